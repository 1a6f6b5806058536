"""The run's event log: seq allocation under the run's row lock, and wake-ups after commit."""

import asyncio
import json
import logging
import threading

from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from ops import metrics

from ..ids import iso
from ..models import Run, RunEvent

log = logging.getLogger(__name__)


def group_name(run_id: str) -> str:
    return f"run-events.{run_id}"


def append(run_id: str, items, *, terminal: bool = False, token: str = "") -> list[RunEvent]:
    """Append (type, data) items as the next seqs. Returns [] when the run already has its terminal
    event: nothing may follow it, so late output from a killed sandbox is dropped here.
    A `token` makes a retry harmless: a batch whose commit succeeded but whose answer was lost
    (the connection broke) is not written a second time when it is sent again with its token."""
    items = list(items)
    if not items:
        return []
    now = timezone.now()
    if connection.vendor == "postgresql":
        last = _append_in_one_statement(run_id, items, terminal, token, now)
    else:
        last = _append_in_a_transaction(run_id, items, terminal, token, now)
    if last is None:
        return []
    metrics.events_stored(items)
    # Outside a transaction the statement has committed already and this runs at once.
    transaction.on_commit(lambda: notifier.notify(run_id, last))
    n = len(items)
    return [
        RunEvent(run_id=run_id, seq=last - n + 1 + i, type=kind, data=data, timestamp=now)
        for i, (kind, data) in enumerate(items)
    ]


# PostgreSQL: the seq bump (under the run's row lock) and the insert in one statement, so a flush
# costs one round trip instead of five (BEGIN, UPDATE, SELECT, INSERT, COMMIT): the commit was the
# largest part of a line's way to its viewers (docs/performance.md).
APPEND_SQL = """
WITH bumped AS (
    UPDATE {run} SET
        last_seq = last_seq + %(n)s,
        terminal_seq = CASE WHEN %(terminal)s THEN last_seq + %(n)s ELSE terminal_seq END,
        last_write = CASE WHEN %(token)s = '' THEN last_write ELSE %(token)s END
    WHERE id = %(run_id)s AND terminal_seq IS NULL
        AND (%(token)s = '' OR last_write <> %(token)s)
    RETURNING last_seq
)
INSERT INTO {event} (run_id, seq, type, data, timestamp)
SELECT %(run_id)s, bumped.last_seq - %(n)s + item.ord, item.type, item.data::jsonb, %(now)s
FROM bumped, unnest(%(types)s::text[], %(datas)s::text[]) WITH ORDINALITY AS item(type, data, ord)
RETURNING seq
"""


def _append_in_one_statement(run_id, items, terminal, token, now) -> int | None:
    sql = APPEND_SQL.format(run=Run._meta.db_table, event=RunEvent._meta.db_table)
    params = {
        "n": len(items),
        "terminal": terminal,
        "token": token,
        "run_id": run_id,
        "now": now,
        "types": [kind for kind, _ in items],
        "datas": [json.dumps(data) for _, data in items],
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        seqs = [row[0] for row in cursor.fetchall()]
    return max(seqs) if seqs else None


def _append_in_a_transaction(run_id, items, terminal, token, now) -> int | None:
    n = len(items)
    with transaction.atomic():
        changes = {"last_seq": F("last_seq") + n}
        if terminal:
            # Both right-hand sides read the row's old value, so terminal_seq == the new last_seq.
            changes["terminal_seq"] = F("last_seq") + n
        target = Run.objects.filter(pk=run_id, terminal_seq__isnull=True)
        if token:
            target = target.exclude(last_write=token)
            changes["last_write"] = token
        if not target.update(**changes):
            return None
        last = Run.objects.filter(pk=run_id).values_list("last_seq", flat=True).get()
        RunEvent.objects.bulk_create(
            RunEvent(run_id=run_id, seq=last - n + 1 + i, type=kind, data=data, timestamp=now)
            for i, (kind, data) in enumerate(items)
        )
    return last


def event_dict(event: RunEvent) -> dict:
    return {
        "seq": event.seq,
        "type": event.type,
        "timestamp": iso(event.timestamp),
        "data": event.data,
    }


def event_json(event: RunEvent) -> str:
    """The live serialisation of an event: listEvents, SSE and the websocket use these exact bytes.
    The evidence log (events.ndjson) writes the same event_dict as RFC 8785 JSON instead, so
    that any client can re-derive its lines from the parsed events."""
    return json.dumps(event_dict(event), ensure_ascii=False, separators=(",", ":"))


class Notifier:
    """Sends "run X has events up to seq N" to the channel layer from one background loop.

    Wake-ups are coalesced per run (only the highest seq is sent), so a chatty run costs one
    message per flush, not per line. Losing one is harmless: readers re-read the database."""

    def __init__(self):
        self._pending: dict[str, int] = {}
        self._lock = threading.Lock()
        self._thread = None
        self._loop = None
        self._wake = None
        self._ready = threading.Event()

    def notify(self, run_id: str, seq: int) -> None:
        with self._lock:
            if seq > self._pending.get(run_id, 0):
                self._pending[run_id] = seq
            if self._thread is None or not self._thread.is_alive():
                self._ready.clear()
                self._thread = threading.Thread(
                    target=self._main, name="event-notifier", daemon=True
                )
                self._thread.start()
        if self._ready.wait(5):
            self._loop.call_soon_threadsafe(self._wake.set)

    def _main(self):
        asyncio.run(self._run())

    async def _run(self):
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        layer = get_channel_layer()
        while True:
            await self._wake.wait()
            self._wake.clear()
            with self._lock:
                pending, self._pending = self._pending, {}
            for run_id, seq in pending.items():
                try:
                    await layer.group_send(group_name(run_id), {"type": "run.events", "seq": seq})
                except Exception:  # a lost wake-up only delays a viewer; never fail the writer
                    log.warning("could not notify viewers of %s", run_id, exc_info=True)


notifier = Notifier()
