"""Where the time between a flush and a viewer goes, part by part, in one process against the
stack's database and Redis (the environment of `make up`): the flush's commit, the wake-up
through the channel layer (notify after commit -> group_send -> a Tail's channel), and the
Tail's database read of the new events. This is what decides whether a wake-up should carry
the events themselves (docs/architecture.md, "Live output").

Usage: .venv/bin/python bench/stream_wakeup.py [--n 300]"""

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crownest_web.settings")

import django  # noqa: E402

django.setup()

from asgiref.sync import sync_to_async  # noqa: E402

from bench.stream import Api, pct  # noqa: E402
from runs.stream import events, feed  # noqa: E402


async def measure(run_id: str, n: int, text: str):
    waker = await feed.ChannelWaker(run_id).start()
    append = sync_to_async(events.append, thread_sensitive=False)
    read = sync_to_async(feed.read_batch, thread_sensitive=False)
    commit, wake, fetch = [], [], []
    try:
        for _ in range(n):
            waker.event.clear()
            t0 = time.perf_counter()
            last = (await append(run_id, [("stdout", {"text": text})]))[-1].seq
            t1 = time.perf_counter()
            await asyncio.wait_for(waker.event.wait(), 5)
            t2 = time.perf_counter()
            batch = await read(run_id, last - 1)
            t3 = time.perf_counter()
            assert batch.lines[-1][0] == last
            commit.append((t1 - t0) * 1000)
            wake.append((t2 - t1) * 1000)
            fetch.append((t3 - t2) * 1000)
            await asyncio.sleep(0.01)
    finally:
        await waker.stop()
    return commit, wake, fetch


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    api = Api()
    run_id = api.start("true")  # never started: its log only takes the events written here
    print(f"{args.n} single-event flushes, one after the other (ms)")
    for name, text in (("one line", "x" * 60 + "\n"), ("8 KiB chunk", ("y" * 99 + "\n") * 82)):
        commit, wake, fetch = asyncio.run(measure(run_id, args.n, text))
        for part, values in (
            ("commit (append)", commit),
            ("wake-up (after commit -> channel)", wake),
            ("Tail read (database)", fetch),
        ):
            print(f"  {name:<12} {part:<34} p50 {pct(values, 50):6.2f}  p99 {pct(values, 99):6.2f}")
    api.http.post(f"/workspace-runs/{run_id}/cancel")
    return 0


if __name__ == "__main__":
    sys.exit(main())
