"""Fair queueing against first-in-first-out, side by side in one invocation: user A starts 40
short runs (8 starts at a time), then user B starts 4, on two worker hosts (the machine's engine
and a second one from scripts/second_engine.sh, as bench/hosts.py) with 2 slots each. Reported
per mode: B's and A's queue wait (queuedAt to startedAt) p50/p95, the time from the first start
to the last terminal status and runs per second, and runs per host. The FIFO baseline is the
same installation with CROWNEST_FAIR_QUEUE=false.

Usage: .venv/bin/python bench/fairness.py [--a-runs 40] [--b-runs 4] [--slots 2]
                                          [--command "sleep 1"]
It uses the database of `make up` (DATABASE_URL, else var/crownest.sqlite3), with a queue and
instance of its own.
"""

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.hosts import TERMINAL, installation  # noqa: E402
from bench.run_start import ENV, PY, targz  # noqa: E402

DATA = targz({"a.txt": b"a"})
ARCHIVE = {"sizeBytes": len(DATA), "sha256": hashlib.sha256(DATA).hexdigest()}


def token(name: str) -> str:
    out = subprocess.run(
        [PY, "manage.py", "issue_token", name, "--create-user"],
        cwd=ROOT, env=ENV, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def ready_runs(api: httpx.Client, n: int, command: str) -> list[str]:
    """n runs with their archive uploaded, not yet started."""
    ids = []
    for _ in range(n):
        body = {"template": "python-node", "command": command, "archive": ARCHIVE}
        body["reuseArchive"] = False
        run = api.post("/workspace-runs", json=body)
        run.raise_for_status()
        run_id = run.json()["id"]
        api.put(f"/workspace-runs/{run_id}/archive", content=DATA,
                headers={"Content-Type": "application/gzip"}).raise_for_status()  # fmt: skip
        ids.append(run_id)
    return ids


def when(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def drain(base: str, keys: dict, counts: dict, command: str) -> dict:
    """Start A's runs then B's; wait for all to end; their run objects and the elapsed time."""
    clients = {
        who: httpx.Client(
            base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=60
        )
        for who, key in keys.items()
    }
    ids = {who: ready_runs(clients[who], counts[who], command) for who in ("A", "B")}
    t0 = time.perf_counter()
    # A's starts go out 8 at a time (a CI fan-out), then B's: the queue is deep when B arrives.
    for who in ("A", "B"):
        api = clients[who]
        with ThreadPoolExecutor(8) as pool:
            sent = pool.map(lambda i, api=api: api.post(f"/workspace-runs/{i}/start"), ids[who])
            for resp in sent:
                resp.raise_for_status()
    started = time.perf_counter() - t0
    done: dict[str, dict] = {}
    while len(done) < sum(counts.values()):
        for who in ("A", "B"):
            for run_id in ids[who]:
                if run_id not in done:
                    run = clients[who].get(f"/workspace-runs/{run_id}").json()
                    if run["status"] in TERMINAL:
                        done[run_id] = {**run, "who": who}
        time.sleep(0.2)
    elapsed = time.perf_counter() - t0
    return {"elapsed": elapsed, "runs": done, "starts": started}


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]


def report(label: str, result: dict) -> None:
    runs = result["runs"].values()
    hosts = hosts_of(list(result["runs"]))
    print(f"{label}: (all starts sent in {result['starts']:.1f} s)")
    for who in ("B", "A"):
        waits = [when(r["startedAt"]) - when(r["queuedAt"]) for r in runs if r["who"] == who]
        print(f"  {who} queue wait: p50 {statistics.median(waits):6.1f} s  "
              f"p95 {pct(waits, 95):6.1f} s  ({len(waits)} runs)")  # fmt: skip
    bad = [r["id"] for r in runs if r["status"] != "succeeded"]
    total = len(result["runs"])
    print(f"  all {total} runs in {result['elapsed']:.1f} s: {total / result['elapsed']:.2f} runs/s"
          + (f"; NOT succeeded: {bad}" if bad else ""))  # fmt: skip
    print(f"  runs per host: {dict(sorted(hosts.items()))}", flush=True)


def hosts_of(ids: list[str]) -> dict:
    """Runs per worker host, from the database (the API does not name hosts)."""
    os.environ.update({k: v for k, v in ENV.items() if k not in os.environ})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crownest_web.settings")
    import django

    django.setup()
    from django.db.models import Count

    from runs.models import Run

    rows = Run.objects.filter(pk__in=ids).values_list("worker_host").annotate(n=Count("id"))
    return dict(rows.order_by())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--a-runs", type=int, default=40)
    parser.add_argument("--b-runs", type=int, default=4)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--command", default="sleep 1")
    args = parser.parse_args()
    engine_b = subprocess.run(
        ["bash", "scripts/second_engine.sh"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    subprocess.run([PY, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=ENV, check=True)
    keys = {"A": token("bench-a"), "B": token("bench-b")}
    counts = {"A": args.a_runs, "B": args.b_runs}
    print(f"A starts {args.a_runs} runs, then B {args.b_runs}, of {args.command!r}; "
          f"two hosts with {args.slots} slots each", flush=True)  # fmt: skip
    for label, fair in (("fair queue", "true"), ("FIFO (CROWNEST_FAIR_QUEUE=false)", "false")):
        with installation(["", engine_b], args.slots, {"CROWNEST_FAIR_QUEUE": fair}) as base:
            report(label, drain(base, keys, counts, args.command))


if __name__ == "__main__":
    main()
