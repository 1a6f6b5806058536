"""Database writes that outlive a short outage of the database (a restart, a failover).

The worker writes while a sandbox runs (output, heartbeats, the cancel check) and when the run
ends. A connection cut under it would otherwise end the task with the command still running
and the run left for the reaper; instead, each such call is repeated on a new connection. The
web process's event feed reads through it too: its pool threads would keep a dead connection."""

import logging
import time

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection

log = logging.getLogger(__name__)

FIRST_DELAY, MAX_DELAY = 0.1, 2.0


def db_retry(fn, *args, **kwargs):
    """fn(*args, **kwargs), repeated after a lost connection: the broken connection is closed
    (Django opens a new one for the next query) and the call is made again with backoff, for at
    most CROWNEST_DB_RETRY_SECONDS; then the error goes up.

    Only for calls that are one transaction of their own (one events.append, one UPDATE, one
    lifecycle.transition): a failed one was rolled back whole, so doing it again is safe. Inside
    an outer transaction the outer block's work is lost with the connection, so there the error
    goes up at once and the outer block's caller decides."""
    if connection.in_atomic_block:
        return fn(*args, **kwargs)
    deadline = time.monotonic() + settings.CROWNEST_DB_RETRY_SECONDS
    delay = FIRST_DELAY
    while True:
        try:
            return fn(*args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            if time.monotonic() + delay > deadline:
                raise
            name = getattr(fn, "__qualname__", repr(fn))
            log.warning("database call %s failed (%s); retrying in %.1f s", name, exc, delay)
        try:
            connection.close()
        except DatabaseError:
            pass  # it was broken; Django forgets it either way
        time.sleep(delay)
        delay = min(delay * 2, MAX_DELAY)
