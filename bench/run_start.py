"""How fast a run starts, side by side in one invocation: a bare hardened `docker run --rm`
against CrowNest runs with a warm pool and with none (cold), first output of `echo hi`,
`crownest run-archive` of a tiny directory, and extraction of a 50,000-file archive against
`tar -xzf` in a bare container.

It starts its own web process and worker (twice: pool of 2, then pool of 0) on the database of
`make up` (DATABASE_URL, else var/crownest.sqlite3), with a queue and instance of its own.
Usage: .venv/bin/python bench/run_start.py [--reps N] [--files N]
"""

import argparse
import hashlib
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.run_overhead import bare_docker_args  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
ENV = {**os.environ, "CROWNEST_QUEUE": "crownest-bench", "CROWNEST_INSTANCE": "bench"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def stack(pool: int):
    port, logs = free_port(), Path(tempfile.mkdtemp(prefix="bench-stack-"))
    env = {**ENV, "CROWNEST_SANDBOX_POOL_SIZE": str(pool)}
    web = subprocess.Popen(
        [PY, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "crownest_web.asgi:application"],
        cwd=ROOT, env=env, stdout=open(logs / "web.log", "wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    worker = subprocess.Popen(
        [PY, "-m", "celery", "-A", "crownest_web", "worker", "-Q", "crownest-bench",
         "--concurrency", "2", "-n", "bench@%h", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=open(logs / "worker.log", "wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            if b"ready." in (logs / "worker.log").read_bytes() and _up(base):
                break
            time.sleep(0.1)
        time.sleep(2 if pool else 0)  # let the pool fill
        yield base
    finally:
        for proc in (worker, web):
            proc.terminate()
            proc.wait(30)


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/v1/templates").status_code == 401
    except httpx.HTTPError:
        return False


def token() -> str:
    out = subprocess.run(
        [PY, "manage.py", "issue_token", "bench", "--create-user"],
        cwd=ROOT, env=ENV, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def targz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def run_once(api: httpx.Client, data: bytes, command: str) -> dict:
    """Seconds from `start` returning to the first stdout event and to `terminal`, over SSE."""
    digest = hashlib.sha256(data).hexdigest()
    archive = {"sizeBytes": len(data), "sha256": digest, "filename": "b.tgz"}
    run = api.post("/workspace-runs", json={"template": "python-node", "command": command,
                                            "archive": archive,
                                            "reuseArchive": False}).json()  # fmt: skip
    api.put(f"/workspace-runs/{run['id']}/archive", content=data,
            headers={"Content-Type": "application/gzip"}).raise_for_status()  # fmt: skip
    times = {}
    with api.stream("GET", f"/workspace-runs/{run['id']}/events/stream?afterSeq=4") as sse:
        api.post(f"/workspace-runs/{run['id']}/start").raise_for_status()
        t0 = time.perf_counter()
        for line in sse.iter_lines():
            if line.startswith("event: stdout") and "first" not in times:
                times["first"] = time.perf_counter() - t0
            if line.startswith("event: terminal"):
                times["terminal"] = time.perf_counter() - t0
                break
    seen = time.perf_counter()  # the bundle, asked for as soon as terminal arrived
    while api.get(f"/workspace-runs/{run['id']}/evidence").status_code != 200:
        time.sleep(0.01)
    times["evidence"] = time.perf_counter() - seen
    for _ in range(300):  # phases are recorded with the evidence, just after terminal
        final = api.get(f"/workspace-runs/{run['id']}").json()
        if final["phases"].get("evidence") is not None:
            break
        time.sleep(0.02)
    assert final["status"] == "succeeded", final
    times["extract"] = final["phases"].get("extract")
    return times


def stats(values: list[float]) -> str:
    values = sorted(values)
    return f"median {statistics.median(values):.3f}s p90 {values[int(len(values) * 0.9) - 1]:.3f}s"


def bare_extract(image: str, data: bytes) -> float:
    """tar -xzf from stdin into a fresh Docker volume at /workspace, as the sandbox user."""
    volume = f"bench-extract-{time.time_ns()}"
    args = bare_docker_args(image, "tar -xzf - -C /workspace")
    args[2:2] = ["-i", "-v", f"{volume}:/workspace"]
    t0 = time.perf_counter()
    subprocess.run(args, input=data, check=True, capture_output=True)
    elapsed = time.perf_counter() - t0
    subprocess.run(["docker", "volume", "rm", volume], capture_output=True)
    return elapsed


def measure(base: str, key: str, reps: int, tiny: bytes, many: bytes) -> dict:
    api = httpx.Client(base_url=f"{base}/api/v1", timeout=120,
                       headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    out = {"true": [], "echo": [], "cli": [], "extract": [], "evidence": []}
    run_once(api, tiny, "true")  # warm-up
    for _ in range(reps):
        once = run_once(api, tiny, "true")
        out["true"].append(once["terminal"])
        out["evidence"].append(once["evidence"])
        time.sleep(1.5)  # the pool refills between runs, as between a user's runs
        out["echo"].append(run_once(api, tiny, "echo hi")["first"])
        time.sleep(1.5)
        out["cli"].append(cli_run(base, key))
        time.sleep(1.5)
    for _ in range(max(2, reps // 3)):
        out["extract"].append(run_once(api, many, "true")["extract"])
    return out


def cli_run(base: str, key: str) -> float:
    folder = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    (folder / "hello.txt").write_text("hi\n")
    env = {**os.environ, "CROWNEST_URL": base, "CROWNEST_TOKEN": key}
    t0 = time.perf_counter()
    subprocess.run([str(ROOT / ".venv" / "bin" / "crownest"), "run-archive", str(folder),
                    "-c", "cat hello.txt"], env=env, check=True, capture_output=True)  # fmt: skip
    return time.perf_counter() - t0


def main():
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--archive", help="a real workspace (.tar.gz): its extraction and "
                        "evidence latency against tar -xzf in a bare container")  # fmt: skip
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crownest_web.settings")
    import django

    django.setup()
    from django.conf import settings

    image = settings.CROWNEST_TEMPLATES["python-node"]["image"]
    tiny = targz({"hello.txt": b"hi\n"})
    many = targz({f"d{i // 1000}/f{i}.txt": b"x" * 10 for i in range(args.files)})
    key = token()
    bare = [bare_docker_args(image, "true") for _ in range(args.reps)]
    bare_t = []
    for argv in bare:
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        bare_t.append(time.perf_counter() - t0)
    bare_x = [bare_extract(image, many) for _ in range(max(2, args.reps // 3))]
    results = {}
    for label, pool in (("warm", 2), ("cold", 0)):
        with stack(pool) as base:
            results[label] = measure(base, key, args.reps, tiny, many)
    b = statistics.median(bare_t)
    print(f"bare docker run --rm true          {stats(bare_t)}")
    for label in ("warm", "cold"):
        r = results[label]
        t = statistics.median(r["true"])
        print(f"{label}: start→terminal (true)        {stats(r['true'])}   {t / b:.2f}× bare")
        print(f"{label}: first stdout line (echo hi)  {stats(r['echo'])}")
        print(f"{label}: evidence after terminal      {stats(r['evidence'])}")
        print(f"{label}: crownest run-archive tiny    {stats(r['cli'])}   bare + "
              f"{statistics.median(r['cli']) - b:.3f}s")  # fmt: skip
    x = statistics.median(results["warm"]["extract"])
    print(
        f"extract {args.files} files: CrowNest {x:.3f}s, tar -xzf in a bare container "
        f"{statistics.median(bare_x):.3f}s ({x / statistics.median(bare_x):.2f}×)"
    )
    if args.archive:
        real_archive(base_key=(key,), image=image, path=Path(args.archive), reps=args.reps)
    print(json.dumps({"bare": bare_t, **results}))


def real_archive(base_key, image: str, path: Path, reps: int) -> None:
    data = path.read_bytes()
    ENV["CROWNEST_DIRECT_UPLOAD_LIMIT"] = str(max(len(data) + 1, 32 << 20))  # one PUT
    bare_x = [bare_extract(image, data) for _ in range(max(2, reps // 3))]
    with stack(2) as base:
        api = httpx.Client(base_url=f"{base}/api/v1", timeout=300,
                           headers={"Authorization": f"Bearer {base_key[0]}"})  # fmt: skip
        runs = [run_once(api, data, "true") for _ in range(max(2, reps // 3))]
    x = statistics.median(r["extract"] for r in runs)
    b = statistics.median(bare_x)
    print(f"{path.name} ({len(data) / 1e6:.0f} MB): extract CrowNest {x:.3f}s, tar -xzf in a "
          f"bare container {b:.3f}s ({x / b:.2f}×)")  # fmt: skip
    print(f"{path.name}: evidence after terminal {stats([r['evidence'] for r in runs])}")


if __name__ == "__main__":
    main()
