"""The stacks bench/load.py --ops-overhead compares in one invocation: its own daphne and worker
(on the database of `make up`, a queue and instance of their own), once with metrics and the
audit log off (CROWNEST_METRICS_ENABLED / CROWNEST_AUDIT_ENABLED false) and once with both on,
the worker in multiprocess mode with its exporter, and both scraped meanwhile."""

import asyncio
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.run_start import ENV, PY, ROOT, free_port

SCRAPE_TOKEN = "bench-metrics-token"


def _env(ops: bool, worker_port: int, folder: Path) -> dict:
    env = {**ENV, "CROWNEST_WORKER_HOST": "bench-host", "CROWNEST_CHANNEL_PREFIX": "crownest-bench"}
    if not ops:
        return {**env, "CROWNEST_METRICS_ENABLED": "false", "CROWNEST_AUDIT_ENABLED": "false"}
    (folder / "multiproc").mkdir()
    return {
        **env,
        "CROWNEST_METRICS_TOKEN": SCRAPE_TOKEN,
        "CROWNEST_METRICS_PORT": str(worker_port),
        "PROMETHEUS_MULTIPROC_DIR": str(folder / "multiproc"),
    }


def _start(argv: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


@contextmanager
def ops_stack(ops: bool, slots: int):
    """Yields (web base URL, worker metrics URL or None)."""
    port, worker_port = free_port(), free_port()
    folder = Path(tempfile.mkdtemp(prefix="bench-ops-"))
    env = _env(ops, worker_port, folder)
    web = _start(
        [PY, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "crownest_web.asgi:application"],
        {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        folder / "web.log",
    )
    worker = _start(
        [PY, "-m", "celery", "-A", "crownest_web", "worker", "-Q", ENV["CROWNEST_QUEUE"],
         "--concurrency", str(slots), "-n", "bench-ops@%h", "--without-gossip", "--without-mingle",
         "--loglevel", "INFO"],
        env, folder / "worker.log",
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if b"ready." in (folder / "worker.log").read_bytes() and _healthy(base):
                break
            time.sleep(0.1)
        time.sleep(3)  # the warm pool fills
        yield base, (f"http://127.0.0.1:{worker_port}" if ops else None)
    finally:
        for proc in (worker, web):
            proc.terminate()
            proc.wait(60)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz").status_code == 200
    except httpx.HTTPError:
        return False


async def scraping(base: str, worker: str | None, stop: asyncio.Event, every: float) -> int:
    """GET both /metrics every `every` seconds until `stop`, as Prometheus would (its default
    interval is 15 s); returns how many scrapes answered 200."""
    if worker is None:
        await stop.wait()
        return 0
    done = 0
    headers = {"Authorization": f"Bearer {SCRAPE_TOKEN}"}
    async with httpx.AsyncClient(headers=headers, timeout=10) as client:
        while not stop.is_set():
            for url in (f"{base}/metrics", f"{worker}/metrics"):
                try:
                    done += (await client.get(url)).status_code == 200
                except httpx.HTTPError:
                    pass
            try:
                await asyncio.wait_for(stop.wait(), every)
            except TimeoutError:
                pass
    return done
