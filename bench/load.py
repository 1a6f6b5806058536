"""Load: N concurrent runs of a small real workload (N = 4 x the worker's slots) with 100 SSE
viewers on them, against a running stack. Reports throughput (runs/min), queue wait p50/p99,
live-event latency p50/p99 under that load, and errors (must be 0).

Needs a running stack (`make up`: daphne on 127.0.0.1:8000, one worker with --concurrency 4).
Usage: .venv/bin/python bench/load.py [--slots 4] [--runs N] [--viewers 100] [--json]

With --ops-overhead R it starts stacks of its own instead (bench/ops_stack.py) and runs the same
load R times each with metrics and the audit log off and on, alternating, in one invocation, and
reports what they cost in throughput and event latency.

The workload is examples/hello's own test and build (`npm test && python3 build.py`, artifacts
collected), then 40 lines 50 ms apart, each the container's clock: the container and the host
share it, so a line's latency is its arrival at the viewer minus its stamp. Every viewer is
connected before any run starts, so everything it sees arrives live.
"""

import argparse
import asyncio
import hashlib
import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crownest_client import pack_bytes as pack  # noqa: E402

from bench import run_start  # noqa: E402
from bench.ops_stack import ops_stack, scraping  # noqa: E402
from scripts.demo import BASE, token  # noqa: E402

STAMPS = 40
WORKLOAD = (
    'npm test && python3 build.py && python3 -c "import time\n'
    f"for i in range({STAMPS}):\n print('T %.6f' % time.time(), flush=True)\n"
    ' time.sleep(0.05)"'
)


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def when(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class Load:
    def __init__(self, args, base: str = BASE, key: str = ""):
        self.args = args
        self.key = key or token()
        self.data = pack(ROOT / "examples" / "hello")
        self.errors: list[str] = []
        self.latencies: list[float] = []
        self.ended: dict[str, float] = {}  # run id -> first arrival of its terminal event
        limits = httpx.Limits(max_connections=args.viewers + 50, max_keepalive_connections=50)
        self.http = httpx.AsyncClient(
            base_url=f"{base}/api/v1",
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=httpx.Timeout(60, read=None),
            limits=limits,
        )

    async def call(self, method: str, url: str, **kwargs) -> dict | None:
        try:
            resp = await self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self.errors.append(f"{method} {url}: {exc!r}")
            return None
        if resp.status_code >= 400:
            self.errors.append(f"{method} {url}: {resp.status_code} {resp.text[:200]}")
            return None
        return resp.json()

    async def prepare(self) -> str | None:
        digest = hashlib.sha256(self.data).hexdigest()
        body = {
            "template": "python-node",
            "command": WORKLOAD,
            "archive": {"sizeBytes": len(self.data), "sha256": digest, "filename": "hello.tgz"},
            "artifactPaths": ["dist/", "reports/*.xml"],
            "timeoutSeconds": 300,
            "reuseArchive": False,
        }
        run = await self.call("POST", "/workspace-runs", json=body)
        if run is None:
            return None
        headers = {"Content-Type": "application/gzip"}
        url = f"/workspace-runs/{run['id']}/archive"
        if await self.call("PUT", url, content=self.data, headers=headers) is None:
            return None
        return run["id"]

    async def view(self, run_id: str, ready: asyncio.Event) -> None:
        """One SSE viewer: every event once, seqs without gaps, stamps timed, then terminal."""
        url = f"/workspace-runs/{run_id}/events/stream"
        seqs, carry, ended = [], "", False
        try:
            async with self.http.stream("GET", url) as resp:
                if resp.status_code != 200:
                    self.errors.append(f"viewer of {run_id}: HTTP {resp.status_code}")
                    return
                ready.set()
                async for line in resp.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    arrived = time.time()
                    event = json.loads(line[6:])
                    seqs.append(event["seq"])
                    if event["type"] == "stdout":
                        *done, carry = (carry + event["data"]["text"]).split("\n")
                        for text in done:
                            if text.startswith("T "):
                                self.latencies.append((arrived - float(text[2:])) * 1000)
                    elif event["type"] == "terminal":
                        self.ended.setdefault(run_id, arrived)
                        ended = True
        except httpx.HTTPError as exc:
            self.errors.append(f"viewer of {run_id}: {exc!r}")
        finally:
            ready.set()
        if not ended:
            self.errors.append(f"viewer of {run_id}: stream ended without the terminal event")
        elif seqs != list(range(1, len(seqs) + 1)):
            self.errors.append(f"viewer of {run_id}: seqs not 1..N without gaps")

    async def main(self) -> dict:
        n, viewers = self.args.runs, self.args.viewers
        run_ids = [r for r in await asyncio.gather(*(self.prepare() for _ in range(n))) if r]
        readies = [asyncio.Event() for _ in range(viewers)]
        watching = [
            asyncio.create_task(self.view(run_ids[i % len(run_ids)], readies[i]))
            for i in range(viewers)
        ]
        await asyncio.gather(*(r.wait() for r in readies))
        started = time.time()
        answers = await asyncio.gather(
            *(self.call("POST", f"/workspace-runs/{r}/start") for r in run_ids)
        )
        for run_id, answer in zip(run_ids, answers, strict=True):
            if answer is None:  # counted as an error; cancel it so that its viewers end
                await self.http.post(f"/workspace-runs/{run_id}/cancel")
        await asyncio.wait_for(asyncio.gather(*watching), timeout=self.args.timeout)
        runs = await asyncio.gather(*(self.call("GET", f"/workspace-runs/{r}") for r in run_ids))
        await self.http.aclose()
        return self.report(started, [r for r in runs if r])

    def report(self, started: float, runs: list[dict]) -> dict:
        for run in runs:
            if run["status"] != "succeeded":
                self.errors.append(f"run {run['id']} {run['status']} {run['failureReason']}")
        waits = [when(r["startedAt"]) - when(r["queuedAt"]) for r in runs if r["startedAt"]]
        durations = [when(r["finishedAt"]) - when(r["startedAt"]) for r in runs if r["finishedAt"]]
        elapsed = max(self.ended.values(), default=started) - started
        expected = self.args.viewers * STAMPS
        if len(self.latencies) != expected:
            self.errors.append(f"{len(self.latencies)} stamped lines seen, {expected} expected")
        return {
            "runs": self.args.runs,
            "slots": self.args.slots,
            "viewers": self.args.viewers,
            "elapsedSeconds": round(elapsed, 2),
            "runsPerMinute": round(len(self.ended) / elapsed * 60, 1) if elapsed else 0,
            "queueWaitP50": round(pct(waits, 50), 3),
            "queueWaitP99": round(pct(waits, 99), 3),
            "runSecondsMedian": round(statistics.median(durations), 3) if durations else None,
            "eventLatencyMsP50": round(pct(self.latencies, 50), 1),
            "eventLatencyMsP99": round(pct(self.latencies, 99), 1),
            "eventsTimed": len(self.latencies),
            "errors": len(self.errors),
            "errorList": self.errors[:20],
        }


async def measured(args, base: str, worker: str | None, key: str, every: float) -> dict:
    stop = asyncio.Event()
    scraper = asyncio.create_task(scraping(base, worker, stop, every))
    result = await Load(args, base, key).main()
    stop.set()
    result["scrapes"] = await scraper
    return result


def compare(args) -> dict:
    """Off then on, then on then off, ...: alternating, so that a drift of the machine and the
    order within a round hit both alike."""
    rounds = {"off": [], "on": []}
    for number in range(args.ops_overhead):
        for mode in ("off", "on") if number % 2 == 0 else ("on", "off"):
            with ops_stack(mode == "on", args.slots) as (base, worker):
                key = run_start.token()
                result = asyncio.run(measured(args, base, worker, key, args.scrape_interval))
            rounds[mode].append(result)
            print(
                f"  {mode:3}: {result['runsPerMinute']} runs/min, event latency p50 "
                f"{result['eventLatencyMsP50']} ms, errors {result['errors']}",
                file=sys.stderr,
            )
    summary = {}
    for mode, results in rounds.items():
        rates = [r["runsPerMinute"] for r in results]
        summary[mode] = {
            "runsPerMinute": rates,
            "meanRunsPerMinute": round(statistics.mean(rates), 1),
            "eventLatencyMsP50": [r["eventLatencyMsP50"] for r in results],
            "eventLatencyMsP99": [r["eventLatencyMsP99"] for r in results],
            "queueWaitP50": [r["queueWaitP50"] for r in results],
            "scrapes": [r["scrapes"] for r in results],
            "errors": sum(r["errors"] for r in results),
        }
    spread = [max(v["runsPerMinute"]) - min(v["runsPerMinute"]) for v in summary.values()]
    off, on = summary["off"]["meanRunsPerMinute"], summary["on"]["meanRunsPerMinute"]
    summary["throughputCostPercent"] = round((off - on) / off * 100, 1) if off else None
    summary["noiseRunsPerMinute"] = round(max(spread), 1)
    return summary


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slots", type=int, default=4, help="the worker's --concurrency")
    parser.add_argument("--runs", type=int, default=0, help="default: 4 x slots")
    parser.add_argument("--viewers", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--ops-overhead", type=int, default=0, metavar="R", help="compare metrics+audit off/on"
    )
    parser.add_argument("--scrape-interval", type=float, default=15, help="seconds (with on)")
    args = parser.parse_args()
    args.runs = args.runs or 4 * args.slots
    if args.ops_overhead:
        summary = compare(args)
        print(json.dumps(summary, indent=None if args.json else 2))
        return 1 if summary["off"]["errors"] or summary["on"]["errors"] else 0
    result = asyncio.run(Load(args).main())
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['runs']} runs ({result['slots']} slots), {result['viewers']} SSE viewers\n"
            f"  throughput      {result['runsPerMinute']} runs/min "
            f"({result['elapsedSeconds']} s from the first start to the last terminal event)\n"
            f"  queue wait      p50 {result['queueWaitP50']} s, p99 {result['queueWaitP99']} s\n"
            f"  run duration    median {result['runSecondsMedian']} s (started to finished)\n"
            f"  event latency   p50 {result['eventLatencyMsP50']} ms, "
            f"p99 {result['eventLatencyMsP99']} ms ({result['eventsTimed']} lines timed)\n"
            f"  errors          {result['errors']}"
        )
        for line in result["errorList"]:
            print(f"    {line}")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
