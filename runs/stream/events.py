"""The run's event log: seq allocation under the run's row lock, and wake-ups after commit."""

import asyncio
import json
import logging
import threading

from channels.layers import get_channel_layer
from django.db import transaction
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
            return []
        last = Run.objects.filter(pk=run_id).values_list("last_seq", flat=True).get()
        now = timezone.now()
        events = [
            RunEvent(run_id=run_id, seq=last - n + 1 + i, type=kind, data=data, timestamp=now)
            for i, (kind, data) in enumerate(items)
        ]
        RunEvent.objects.bulk_create(events)
        metrics.events_stored(items)
        transaction.on_commit(lambda: notifier.notify(run_id, last))
    return events


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
