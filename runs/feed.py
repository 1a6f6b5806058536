"""Following a run's event log, shared by the SSE view and the websocket consumer.

The database is the log; the channel layer only wakes readers up. A reader re-reads from its
last seq on every wake-up and at least every POLL_SECONDS, so a lost, late or reordered
wake-up (or a Redis restart) can delay events but never lose, repeat or reorder them."""

import asyncio
import logging
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from .events import event_json, group_name
from .models import Run, RunEvent

log = logging.getLogger(__name__)

BATCH = 1000
POLL_SECONDS = 2.0


@dataclass
class Batch:
    lines: list[tuple[int, str, str]]  # (seq, type, event JSON)
    terminal_seq: int | None


def read_batch(run_id: str, after: int) -> Batch:
    terminal_seq = Run.objects.filter(pk=run_id).values_list("terminal_seq", flat=True).first()
    events = RunEvent.objects.filter(run_id=run_id, seq__gt=after).order_by("seq")[:BATCH]
    return Batch([(e.seq, e.type, event_json(e)) for e in events], terminal_seq)


async def follow(run_id: str, after: int, wait):
    """Yield lists of (seq, type, json) after `after`, in order, until the terminal event has
    been yielded; an empty list each time it goes idle (callers send keepalives then).
    `wait(timeout)` returns when woken or after the timeout."""
    read = sync_to_async(read_batch, thread_sensitive=False)
    while True:
        batch = await read(run_id, after)
        if batch.lines:
            yield batch.lines
            after = batch.lines[-1][0]
            if len(batch.lines) == BATCH:
                continue
        if batch.terminal_seq is not None and after >= batch.terminal_seq:
            return
        if not batch.lines:
            yield []
        await wait(POLL_SECONDS)


class Waker:
    """An asyncio.Event with a timeout; set by whoever hears about new events."""

    def __init__(self):
        self.event = asyncio.Event()

    def wake(self) -> None:
        self.event.set()

    async def wait(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self.event.clear()


class ChannelWaker(Waker):
    """A Waker fed by its own channel in the run's group (for views that are not consumers)."""

    def __init__(self, run_id: str):
        super().__init__()
        self.group = group_name(run_id)
        self.layer = get_channel_layer()
        self.channel = None
        self.task = None

    async def start(self):
        self.task = asyncio.create_task(self._listen())
        return self

    async def _listen(self):
        while True:
            try:
                if self.channel is None:
                    self.channel = await self.layer.new_channel()
                    await self.layer.group_add(self.group, self.channel)
                await self.layer.receive(self.channel)
                self.wake()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis away: keep polling the database, join again later
                log.info("channel layer unavailable; following %s by polling", self.group)
                self.channel = None
                await asyncio.sleep(1)

    async def stop(self):
        if self.task:
            self.task.cancel()
        if self.channel:
            try:
                await self.layer.group_discard(self.group, self.channel)
            except Exception:
                pass
