"""Following a run's event log, shared by the SSE view and the websocket consumer.

The database is the log; the channel layer only wakes readers up. Per process and run, one
Tail reads new events once per wake-up (and at least every POLL_SECONDS) into a bounded window
(CROWNEST_STREAM_WINDOW_BYTES) that every viewer of that run in this process is served from, so
a thousand viewers cost one query per batch, not a thousand. A viewer behind the window (a
replay) reads the database itself until it catches up. A live viewer that falls out of the
window (it takes events slower than the run writes them) is cut off with SlowViewer and resumes
from its last seq like any reconnecting client: the Tail never waits for a viewer, and a viewer
holds at most one send's worth (CROWNEST_STREAM_SEND_BYTES) of its own. A lost, late or
reordered wake-up, or a Redis restart, can delay events but never lose, repeat or reorder them:
everything is read by seq from the database."""

import asyncio
import functools
import logging
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from ..dbretry import db_retry
from ..models import Run, RunEvent
from .events import event_json, group_name

log = logging.getLogger(__name__)

BATCH = 1000
POLL_SECONDS = 2.0


class SlowViewer(Exception):
    """A live viewer fell out of the shared window; `after` is the last seq it was given."""

    def __init__(self, after: int):
        super().__init__(f"the viewer fell behind the live window after seq {after}")
        self.after = after


@dataclass
class Batch:
    lines: list[tuple[int, str, str]]  # (seq, type, event JSON)
    terminal_seq: int | None


def read_batch(run_id: str, after: int) -> Batch:
    """One query: the terminal event is always the run's last (events.append refuses anything
    after it), so a batch that holds it says where the log ends."""
    events = RunEvent.objects.filter(run_id=run_id, seq__gt=after).order_by("seq")[:BATCH]
    lines = [(e.seq, e.type, event_json(e)) for e in events]
    return Batch(lines, next((seq for seq, kind, _ in lines if kind == "terminal"), None))


def current_seq(run_id: str) -> tuple[int, int | None]:
    """(last seq, terminal seq or None) of the run now."""
    row = Run.objects.filter(pk=run_id).values_list("last_seq", "terminal_seq").first()
    return row or (0, None)


# These run on the shared thread pool, whose threads keep their database connection from one
# request to the next (Django closes connections at a request's end, in the request's thread):
# after a database restart that connection is dead, and db_retry replaces it.
def in_pool(fn):
    """fn on the shared pool, a dead connection replaced: what followers and stream set-ups
    read through, so a thousand of them use the pool's few connections."""
    return sync_to_async(functools.partial(db_retry, fn), thread_sensitive=False)


read = in_pool(read_batch)
last_seq = in_pool(current_seq)


class Tail:
    """The newest events of one run, shared by this process's viewers of it."""

    def __init__(self, run_id: str, start: int, terminal_seq: int | None = None):
        self.run_id = run_id
        self.base = start  # the window holds seqs base+1 .. last
        self.last = start
        self.lines: list[tuple[int, str, str]] = []
        self.size = 0
        self.limit = settings.CROWNEST_STREAM_WINDOW_BYTES
        self.terminal_seq = terminal_seq
        self.viewers = 0
        self.changed = asyncio.Event()
        self.waker = ChannelWaker(run_id)
        self.task = None

    def start(self):
        self.task = asyncio.create_task(self._fetch())

    async def _fetch(self):
        await self.waker.start()
        try:
            while True:
                batch = await read(self.run_id, self.last)
                if batch.terminal_seq is not None:
                    self.terminal_seq = batch.terminal_seq
                if batch.lines:
                    self._add(batch.lines)
                # Viewers wait without a timer of their own: this wakes them at least every
                # POLL_SECONDS (their keepalives) and after every read.
                self._notify()
                if len(batch.lines) == BATCH:
                    continue
                if self.done:
                    return  # complete: the window stays for replays while viewers remain
                await self.waker.wait(POLL_SECONDS)
        finally:
            self._notify()  # a viewer waiting on a Tail that stopped must look at it
            await self.waker.stop()

    def _add(self, lines):
        self.lines.extend(lines)
        self.last = lines[-1][0]
        self.size += sum(len(body) for _, _, body in lines)
        if self.size > self.limit:
            # Never the lines just read: a viewer that was at the head must get all of them,
            # or one big read would cut viewers that were keeping up.
            drop = 0
            while self.size > self.limit and drop < len(self.lines) - len(lines):
                self.size -= len(self.lines[drop][2])
                drop += 1
            if drop:
                self.base = self.lines[drop - 1][0]
                del self.lines[:drop]

    def _notify(self):
        self.changed.set()
        self.changed = asyncio.Event()

    def after(self, seq: int):
        """Window lines after seq, or None when seq is older than the window."""
        if seq < self.base:
            return None
        start = seq - self.base
        return self.lines[start : start + BATCH]

    @property
    def done(self) -> bool:
        return self.terminal_seq is not None and self.last >= self.terminal_seq

    async def wait_beyond(self, seq: int) -> None:
        if self.last > seq or self.task.done():
            return
        await self.changed.wait()


_tails: dict[tuple[int, str], Tail] = {}


async def _acquire(run_id: str) -> Tail:
    key = (id(asyncio.get_running_loop()), run_id)
    tail = _tails.get(key)
    if tail is None:
        last, terminal_seq = await last_seq(run_id)
        tail = _tails.get(key)  # another viewer may have made it meanwhile
        if tail is None:
            # The window starts with the run's last BATCH events, so viewers that open from
            # afterSeq=0 (a crowd arriving as a run starts) are served from it, not each from
            # the database (measured: a thousand replays queued on the pool).
            tail = _tails[key] = Tail(run_id, max(0, last - BATCH), terminal_seq)
            tail.start()
    tail.viewers += 1
    return tail


def _release(tail: Tail) -> None:
    tail.viewers -= 1
    if tail.viewers == 0:
        _tails.pop((id(asyncio.get_running_loop()), tail.run_id), None)
        tail.task.cancel()


def bounded(lines: list, limit: int) -> list:
    """The first lines up to `limit` bytes of JSON (at least one): what one viewer holds."""
    size = 0
    for i, (_seq, _kind, body) in enumerate(lines):
        size += len(body)
        if size >= limit:
            return lines[: i + 1]
    return lines


async def follow(run_id: str, after: int):
    """Yield lists of (seq, type, json) after `after`, in order, until the terminal event has
    been yielded; an empty list each time it goes idle (callers send keepalives then).
    Raises SlowViewer when the caller, once live, took its events too slowly to stay in the
    window (it was given everything up to `.after`)."""
    tail = await _acquire(run_id)
    limit = settings.CROWNEST_STREAM_SEND_BYTES
    live = False
    try:
        while True:
            lines = tail.after(after)
            if lines is None:
                if live:
                    raise SlowViewer(after)
                lines = (await read(run_id, after)).lines  # a replay: catch up from the database
            elif lines:
                live = True  # served from the window (having been, it must keep up)
            if lines:
                lines = bounded(lines, limit)
                yield lines
                after = lines[-1][0]
                continue
            if tail.done and after >= tail.terminal_seq:
                return
            if tail.task.done() and not tail.done:
                raise RuntimeError(f"following {run_id} stopped") from tail.task.exception()
            yield []
            await tail.wait_beyond(after)
    finally:
        _release(tail)


class ChannelWaker:
    """Wakes a Tail when its run's group in the channel layer hears of new events."""

    def __init__(self, run_id: str):
        self.group = group_name(run_id)
        self.layer = get_channel_layer()
        self.event = asyncio.Event()
        self.channel = None
        self.task = None

    async def start(self):
        # Join before the Tail's first read, so no wake-up falls between that read and the join.
        await self._join()
        self.task = asyncio.create_task(self._listen())
        return self

    async def _join(self):
        try:
            self.channel = await self.layer.new_channel()
            await self.layer.group_add(self.group, self.channel)
        except Exception:
            self.channel = None

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self.event.clear()

    async def _listen(self):
        while True:
            try:
                if self.channel is None:
                    await self._join()
                    if self.channel is None:
                        raise ConnectionError("channel layer unavailable")
                await self.layer.receive(self.channel)
                self.event.set()
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
