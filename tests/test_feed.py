"""The shared per-run reader behind SSE and the websocket."""

import asyncio
import contextlib
import functools

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from runs.stream import events, feed

from .helpers import make_targz, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_viewers_of_one_run_share_one_database_reader(runs, monkeypatch):
    run_id = runs.create(make_targz({"a": "b"}))["id"]  # seq 1
    calls, real = [], feed.read_batch

    def counting(run, after):
        calls.append(after)
        return real(run, after)

    # One worker thread (not a pool) so its database connection can be closed at the end.
    monkeypatch.setattr(feed, "read", sync_to_async(counting))

    seen = [[] for _ in range(10)]

    async def viewer(mine):
        async with contextlib.aclosing(feed.follow(run_id, 1)) as lines_iter:
            async for lines in lines_iter:
                mine += [seq for seq, _, _ in lines]
                if len(mine) >= 5:
                    return

    def every_viewer_has(seq):
        return lambda: all(len(mine) >= seq - 1 for mine in seen)

    async def main():
        tasks = [asyncio.create_task(viewer(mine)) for mine in seen]
        until = functools.partial(asyncio.to_thread, wait_until, timeout=15, interval=0.01)
        # every viewer follows the one tail, which has read once, before anything is appended
        await until(lambda: calls and sum(t.viewers for t in feed._tails.values()) == 10)
        try:
            for i in range(5):
                await sync_to_async(events.append)(run_id, [("stdout", {"text": f"{i}\n"})])
                await until(every_viewer_has(i + 2))  # delivered before the next one
            await asyncio.wait_for(asyncio.gather(*tasks), 15)
        finally:
            await sync_to_async(connections.close_all)()

    asyncio.run(main())
    assert seen == [[2, 3, 4, 5, 6]] * 10
    # One reader for the ten viewers: a read per wake-up or poll, not one per viewer.
    assert len(calls) < 20, calls
