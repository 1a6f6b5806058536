"""The flush between transactional tests, made safe from everything else that uses the database.

Django flushes the test database after each transactional test with one TRUNCATE of every
table, taking each table's ACCESS EXCLUSIVE lock in turn (in the order of a set: it differs from
one session to the next). The live stack's processes use the same database: the worker's host
keeper beats every second, daphne may still serve a request of the test that just ended (an SSE
feed whose client has gone polls until it notices), a fault test's workers reap. A query of
theirs that already holds a lock on a table later in the TRUNCATE's list and then asks for one
earlier in it (a join, or a second statement in one transaction) waits for the TRUNCATE while the
TRUNCATE waits for it: PostgreSQL ends one of them with DeadlockDetected, and when that is the
flush, the next test starts on the last test's rows.

Caught in the server's log (log_lock_waits on) at a failure of `make test`: the TRUNCATE waited
for evidence_evidencebundle, held by a worker's transaction that had inserted a bundle and, at
COMMIT, checked its deferred foreign key to runs_run, which the TRUNCATE already held: the
Evidence Bundle of a run the API had ended before it started (the worker's finish_ending task),
which the wait for an idle worker did not wait for. It now does (helpers.busy_runs).

And then, around the flush, and only there, the database is closed to everyone else: new connections
are refused, and the connections of other processes (and of this process's other threads) are
ended, waiting until each has gone, so that the TRUNCATE is the only one asking for locks. They
were told nothing of it: the worker's keeper threads and the web's feeds log a failed query
and connect again once the database is open, which it is again as soon as the flush is done.
What was still running is written to test-results/quiet-flush.log: the proof of who it was."""

import contextlib
import datetime
import os
from pathlib import Path

from django.db import connections

LOG = Path(
    os.environ.get("CROWNEST_QUIET_LOG")
    or Path(__file__).resolve().parent.parent / "test-results" / "quiet-flush.log"
)
# This process's own connections are named (PGAPPNAME, set by conftest.py before any connection):
# those of its other threads (executors of async code, kept for reuse by later tests) are left
# alone while idle, since they hold no lock and no thread of a finished test is still querying;
# ending them would break the next test that reuses the thread.
OWN_NAME = f"crownest-tests-{os.getpid()}"
# An ended backend exits within milliseconds; its locks go with it.
TERMINATE_WAIT_MS = 10_000

OTHERS = """
    SELECT pid, application_name, backend_type, state, wait_event_type, wait_event,
           now() - xact_start AS in_transaction, left(query, 300)
    FROM pg_stat_activity
    WHERE datname = %s AND pid <> %s AND backend_type = 'client backend'
      AND NOT (application_name = %s AND state = 'idle')
"""


@contextlib.contextmanager
def closed_to_others(alias: str = "default"):
    """The database `alias` with no other client, and refusing new ones, for the block."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        yield []
        return
    name = connection.settings_dict["NAME"]
    quoted = connection.ops.quote_name(name)
    with connection.cursor() as cursor:  # the flush's own connection, the one to keep
        cursor.execute("SELECT pg_backend_pid()")
        mine = cursor.fetchone()[0]
    # A database's connections cannot be refused from a connection to it: from `postgres`.
    with connection._nodb_cursor() as admin:
        admin.execute(f"ALTER DATABASE {quoted} WITH ALLOW_CONNECTIONS false")
        try:
            admin.execute(OTHERS, [name, mine, OWN_NAME])
            seen = admin.fetchall()
            for pid, *_ in seen:
                admin.execute("SELECT pg_terminate_backend(%s, %s)", [pid, TERMINATE_WAIT_MS])
            _note(seen)
            yield seen
        finally:
            admin.execute(f"ALTER DATABASE {quoted} WITH ALLOW_CONNECTIONS true")


def _note(seen) -> None:
    """Busy ones (a query running or a transaction open) are the deadlock's candidates."""
    busy = [row for row in seen if row[3] != "idle"]
    if not busy:
        return
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(LOG, "a") as out:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?")
        out.write(f"{datetime.datetime.now().isoformat()} flush after {test}\n")
        for pid, app, _kind, state, wait_type, wait, in_tx, query in busy:
            out.write(f"  pid {pid} {app or '-'} {state} wait={wait_type}/{wait} tx={in_tx}\n")
            out.write(f"    {' '.join((query or '').split())}\n")


def quiet_fixture_teardown(original):
    """TransactionTestCase._fixture_teardown (the flush), run with the database to itself."""

    def teardown(case):
        aliases = case._databases_names(include_mirrors=False)
        with contextlib.ExitStack() as stack:
            for alias in aliases:
                stack.enter_context(closed_to_others(alias))
            original(case)

    return teardown
