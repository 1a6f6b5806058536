"""Two worker hosts against one, side by side in one invocation: the time a queue of N small runs
takes from the first `start` to the last terminal status, with one worker host, then with two
(the second on its own Docker engine: scripts/second_engine.sh). Each host has the same slots.

Both engines run on this machine's CPUs, so this measures what a second host's slots add, not
what its CPUs would: the default workload (`sleep 2`) is bound by slots, the way a queue of
real test suites on separate machines is; `--command` takes another one.

Usage: .venv/bin/python bench/hosts.py [--runs 40] [--slots 2] [--command "sleep 2"]
It uses the database of `make up` (DATABASE_URL, else var/crownest.sqlite3), with a queue and
instance of its own.
"""

import argparse
import hashlib
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.run_start import ENV, PY, _up, free_port, targz, token  # noqa: E402

TERMINAL = {"succeeded", "failed", "canceled"}


@contextmanager
def process(argv: list[str], env: dict, log: Path):
    out = open(log, "wb")
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(60)


@contextmanager
def installation(hosts: list[str], slots: int, extra_env: dict | None = None):
    """One web process and one worker per engine in `hosts` ("" is the machine's engine)."""
    port, logs = free_port(), Path(tempfile.mkdtemp(prefix="bench-hosts-"))
    env = {**ENV, "CROWNEST_SANDBOX_POOL_SIZE": "2", "CROWNEST_MAX_ACTIVE_RUNS": "1000"}
    env.update(extra_env or {})
    with ExitStack() as stack:
        web = [PY, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        stack.enter_context(process([*web, "crownest_web.asgi:application"], env, logs / "web"))
        for n, docker_host in enumerate(hosts):
            host_env = {**env, "CROWNEST_WORKER_HOST": f"bench-{n}"}
            if docker_host:
                host_env["DOCKER_HOST"] = docker_host
            argv = [PY, "-m", "celery", "-A", "crownest_web", "worker", "-Q", "crownest-bench",
                    "--concurrency", str(slots), "-n", f"bench{n}@%h", "--loglevel", "INFO",
                    "--without-gossip", "--without-mingle"]  # fmt: skip
            stack.enter_context(process(argv, host_env, logs / f"worker{n}"))
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            ready = all(b"ready." in (logs / f"worker{n}").read_bytes() for n in range(len(hosts)))
            if ready and _up(base):
                break
            time.sleep(0.1)
        time.sleep(3)  # the pools fill
        yield base


def drain(base: str, key: str, runs: int, command: str) -> tuple[float, dict]:
    """Seconds from the first start to the last terminal status, and runs per host."""
    data = targz({"a.txt": b"a"})
    archive = {"sizeBytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"{base}/api/v1", headers=headers, timeout=60) as api:
        ids = []
        for _ in range(runs):
            body = {"template": "python-node", "command": command, "archive": archive}
            run = api.post("/workspace-runs", json=body).json()
            api.put(f"/workspace-runs/{run['id']}/archive", content=data,
                    headers={"Content-Type": "application/gzip"}).raise_for_status()  # fmt: skip
            ids.append(run["id"])
        t0 = time.perf_counter()
        for run_id in ids:
            api.post(f"/workspace-runs/{run_id}/start").raise_for_status()
        pending = set(ids)
        while pending:
            for run_id in list(pending):
                if api.get(f"/workspace-runs/{run_id}").json()["status"] in TERMINAL:
                    pending.discard(run_id)
            time.sleep(0.1)
        elapsed = time.perf_counter() - t0
        health = api.get(f"{base}/healthz").json()
    return elapsed, {h["name"]: h["slots"] for h in health.get("hosts", [])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--command", default="sleep 2")
    args = parser.parse_args()
    engine_b = subprocess.run(
        ["bash", "scripts/second_engine.sh"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    subprocess.run([PY, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=ENV, check=True)
    key = token()
    results = {}
    for label, hosts in (("one host", [""]), ("two hosts", ["", engine_b])):
        with installation(hosts, args.slots) as base:
            results[label], _ = drain(base, key, args.runs, args.command)
        took = results[label]
        print(f"{label}: {args.runs} runs of {args.command!r} in {took:.1f} s", flush=True)
    ratio = results["two hosts"] / results["one host"]
    print(f"two hosts / one host: {ratio:.2f}x (target <= 0.6x)")


if __name__ == "__main__":
    main()
