"""The shared per-run reader behind SSE and the websocket."""

import asyncio
import contextlib

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from runs.stream import events, feed

from .helpers import make_targz

pytestmark = pytest.mark.django_db(transaction=True)


def test_viewers_of_one_run_share_one_database_reader(runs, monkeypatch):
    run_id = runs.create(make_targz({"a": "b"}))["id"]  # seq 1
    calls, real = [], feed.read_batch

    def counting(run, after):
        calls.append(after)
        return real(run, after)

    # One worker thread (not a pool) so its database connection can be closed at the end.
    monkeypatch.setattr(feed, "read", sync_to_async(counting))

    async def viewer():
        seen = []
        async with contextlib.aclosing(feed.follow(run_id, 1)) as lines_iter:
            async for lines in lines_iter:
                seen += [seq for seq, _, _ in lines]
                if len(seen) >= 5:
                    return seen

    async def main():
        tasks = [asyncio.create_task(viewer()) for _ in range(10)]
        await asyncio.sleep(0.3)
        for i in range(5):
            await sync_to_async(events.append)(run_id, [("stdout", {"text": f"{i}\n"})])
            await asyncio.sleep(0.2)
        try:
            return await asyncio.wait_for(asyncio.gather(*tasks), 15)
        finally:
            await sync_to_async(connections.close_all)()

    seen = asyncio.run(main())
    assert seen == [[2, 3, 4, 5, 6]] * 10
    # One reader for the ten viewers: a read per wake-up or poll, not one per viewer.
    assert len(calls) < 20, calls
