"""A live viewer that takes events slower than the run writes them is cut off with a clear
reason (SSE: a last comment; websocket: close code 4408) and resumes exactly from its last
seq, while the viewers that keep up are never held back. The web server's flow control is what
makes a viewer fall behind (its send waits while the client does not read); here a viewer that
does not ask for more, or a send that does not return, is that viewer."""

import asyncio
import contextlib
import functools

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.db import connections

from runs.http.sse import frames
from runs.stream import events, feed
from runs.stream.routing import websocket_urlpatterns

from .helpers import make_targz, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

WINDOW = 4000  # bytes of event JSON each process keeps per run
LINE = "x" * 150


@pytest.fixture
def small_window(settings, monkeypatch):
    settings.CROWNEST_STREAM_WINDOW_BYTES = WINDOW
    settings.CROWNEST_STREAM_SEND_BYTES = 1000
    # Database reads on one thread of their own (not the shared pool), closed at the end.
    monkeypatch.setattr(feed, "read", sync_to_async(feed.read_batch))
    monkeypatch.setattr(feed, "last_seq", sync_to_async(feed.current_seq))


until = functools.partial(asyncio.to_thread, wait_until, timeout=20, interval=0.01)
append = sync_to_async(events.append)


async def fast_viewer(run_id, seen):
    async with contextlib.aclosing(feed.follow(run_id, 0)) as lines:
        async for batch in lines:
            seen += [seq for seq, _, _ in batch]


async def flood_past_the_window(run_id, fast_seen, count=60):
    """`count` events of ~200 bytes, each delivered to the fast viewer before the next."""
    for i in range(count):
        last = (await append(run_id, [("stdout", {"text": f"{i} {LINE}\n"})]))[-1].seq
        await until(lambda s=last: fast_seen and fast_seen[-1] >= s)
    return last


async def closing(main):
    """Run `main`, then close the database connection of the thread its ORM calls ran on."""
    try:
        return await main
    finally:
        await sync_to_async(connections.close_all)()


async def finish(run_id):
    await append(run_id, [("terminal", {"status": "succeeded"})], terminal=True)


def test_a_viewer_that_falls_behind_is_cut_and_resumes_exactly(runs, small_window):
    run_id = runs.create(make_targz({"a": "b"}))["id"]  # seq 1

    async def main():
        fast = []
        fast_task = asyncio.create_task(fast_viewer(run_id, fast))
        slow = feed.follow(run_id, 0)
        await append(run_id, [("stdout", {"text": "live\n"})])
        got = []
        while not got or got[-1] < 2:  # from the shared window: live, then it stops asking
            got += [seq for seq, _, _ in await anext(slow)]
        last = await flood_past_the_window(run_id, fast)
        with pytest.raises(feed.SlowViewer) as cut:
            await anext(slow)
        await slow.aclose()
        assert cut.value.after == got[-1] == 2
        await finish(run_id)
        await asyncio.wait_for(fast_task, 20)
        resumed = []
        async with contextlib.aclosing(feed.follow(run_id, cut.value.after)) as rest:
            async for batch in rest:
                resumed += [seq for seq, _, _ in batch]
        return fast, got, resumed, last

    fast, got, resumed, last = asyncio.run(closing(main()))
    # The viewer that kept up saw everything, in order, while the slow one sat there.
    assert fast == list(range(1, last + 2))
    assert got + resumed == fast


def test_sse_ends_with_a_comment_naming_the_seq_to_resume_from(runs, small_window):
    run_id = runs.create(make_targz({"a": "b"}))["id"]

    async def main():
        fast = []
        fast_task = asyncio.create_task(fast_viewer(run_id, fast))
        stream = frames(run_id, 0)
        chunks = [await anext(stream), await anext(stream)]  # retry:, then seq 1
        await append(run_id, [("stdout", {"text": "live\n"})])
        chunks.append(await anext(stream))  # seq 2, live; then the client stops reading
        await flood_past_the_window(run_id, fast)
        chunks += [chunk async for chunk in stream]  # the client reads again: cut
        await finish(run_id)
        await asyncio.wait_for(fast_task, 20)
        rest = [chunk async for chunk in frames(run_id, 2)]
        return b"".join(chunks).decode(), b"".join(rest).decode(), fast

    first, rest, fast = asyncio.run(closing(main()))
    assert first.startswith("retry: 1000\n\nid: 1\n")
    assert [int(x[4:]) for x in first.splitlines() if x.startswith("id: ")] == [1, 2]
    assert first.endswith(
        ": slow_viewer: this stream fell behind the run's output and was closed after seq 2; "
        "resume with Last-Event-ID: 2 (or afterSeq=2)\n\n"
    )
    ids = [int(line[4:]) for line in rest.splitlines() if line.startswith("id: ")]
    assert ids == fast[2:]  # exactly the rest, from seq 3 to the terminal event
    assert "event: terminal" in rest


class HeldSends:
    """The server's flow control as a consumer sees it: after `allow` messages, a send waits
    until the test lets it go (as a send to a client that does not read waits)."""

    def __init__(self, app, allow: int):
        self.app, self.allow, self.released = app, allow, asyncio.Event()

    async def __call__(self, scope, receive, send):
        async def held(message):
            if message["type"] == "websocket.send":
                if self.allow <= 0:
                    await self.released.wait()
                self.allow -= 1
            await send(message)

        return await self.app(scope, receive, held)


def test_websocket_closes_with_4408_and_resumes_exactly(runs, small_window, user):
    run_id = runs.create(make_targz({"a": "b"}))["id"]

    async def main():
        fast = []
        fast_task = asyncio.create_task(fast_viewer(run_id, fast))
        app = HeldSends(URLRouter(websocket_urlpatterns), allow=1)
        comm = WebsocketCommunicator(app, f"/ws/workspace-runs/{run_id}/events?afterSeq=0")
        comm.scope["user"] = user
        connected, _ = await comm.connect(timeout=10)
        assert connected
        first = await comm.receive_json_from(timeout=10)  # seq 1; the next send is held
        await flood_past_the_window(run_id, fast)
        app.released.set()
        messages = []
        while (out := await comm.receive_output(timeout=10))["type"] == "websocket.send":
            messages.append(out)
        await finish(run_id)
        await asyncio.wait_for(fast_task, 20)
        await comm.disconnect()
        return first, messages, out, fast

    first, sent, close, fast = asyncio.run(closing(main()))
    assert first["seq"] == 1
    # The held send went out when the client read again (a batch taken from the window before
    # the viewer fell behind), then the close with the seq to resume from.
    seqs = [1] + [int(m["text"].split(",", 1)[0].split(":")[1]) for m in sent]
    assert seqs == fast[: len(seqs)]
    assert close["code"] == 4408
    assert close["reason"] == f"slow_viewer: fell behind; resume with afterSeq={seqs[-1]}"
