"""Staged-transfer throughput and web-process memory, against `cp` and a chunked sha256 of the
same ~1 GB archive, measured in the same invocation.

Needs a running stack (`make up`). Usage: .venv/bin/python bench/upload.py [--size-mb N]
The archive is generated once into var/bench/ (incompressible data in a few members).

With `--s3` (a stack started with CROWNEST_S3_* set, and the same variables here): a plain boto3
multipart upload against a presigned transfer (parts straight to the bucket) and a chunked one,
with the web process's CPU time per GB (bench/upload_s3.py).
"""

import argparse
import gzip
import hashlib
import http.client
import os
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.upload_s3 import cpu_seconds  # noqa: E402
from scripts.demo import BASE, token  # noqa: E402

BENCH = ROOT / "var" / "bench"
MEMBERS = 4


class RandomData:
    def __init__(self, size: int):
        self.left = size

    def read(self, n: int = 1 << 20) -> bytes:
        n = min(n if n > 0 else 1 << 20, self.left)
        self.left -= n
        return os.urandom(n)


def archive(size_mb: int) -> Path:
    path = BENCH / f"upload-{size_mb}m.tar.gz"
    if path.exists():
        return path
    BENCH.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    member = size_mb * 1024 * 1024 // MEMBERS
    with (
        open(part, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w|") as tar,
    ):
        for i in range(MEMBERS):
            info = tarfile.TarInfo(f"data/blob-{i}.bin")
            info.size = member
            tar.addfile(info, RandomData(member))
    part.rename(path)
    return path


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class RssSampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.05)


def time_cp(path: Path) -> float:
    dest = BENCH / "copy.tmp"
    t0 = time.perf_counter()
    subprocess.run(["cp", str(path), str(dest)], check=True)
    elapsed = time.perf_counter() - t0
    dest.unlink()
    return elapsed


def time_sha256(path: Path) -> tuple[float, str]:
    digest = hashlib.sha256()
    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return time.perf_counter() - t0, digest.hexdigest()


def time_ceiling(path: Path, chunk: int, authorization: str) -> float:
    """The same chunks PUT, with the same credentials, to a transfer that does not exist (404):
    what the web server and Django's request reading alone cost, the bound on any view that
    receives a body."""
    conn = http.client.HTTPConnection(urlsplit(BASE).hostname, urlsplit(BASE).port)
    headers = {"Authorization": authorization, "Content-Type": "application/octet-stream"}
    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        while body := fh.read(chunk):
            conn.request("PUT", "/api/v1/transfers/tr_none", body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 404, resp.status
    conn.close()
    return time.perf_counter() - t0


def upload(api: httpx.Client, path: Path, sha256: str) -> tuple[float, float, str]:
    size = path.stat().st_size
    meta = {"sizeBytes": size, "sha256": sha256, "filename": path.name}
    body = {"template": "python-node", "command": "true", "archive": meta, "reuseArchive": False}
    run = api.post("/workspace-runs", json=body)
    run.raise_for_status()
    run_id = run.json()["id"]
    t0 = time.perf_counter()
    transfer = api.post(f"/workspace-runs/{run_id}/transfers").json()
    chunk = transfer["chunkSizeBytes"]
    # The standard library's client on one keep-alive connection: httpx spends more CPU per
    # byte than the server does, which would measure the client instead.
    url = urlsplit(transfer["uploadUrl"])
    conn = http.client.HTTPConnection(url.hostname, url.port)
    with open(path, "rb") as fh:
        for start in range(0, size, chunk):
            body = fh.read(chunk)
            end = start + len(body) - 1
            headers = {
                "Authorization": api.headers["Authorization"],
                "Content-Type": "application/octet-stream",
                "Content-Range": f"bytes {start}-{end}/{size}",
            }
            conn.request("PUT", url.path, body=body, headers=headers)
            resp = conn.getresponse()
            answer = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"chunk at {start}: {resp.status} {answer[:300]!r}")
    conn.close()
    t1 = time.perf_counter()
    done = api.post(f"/transfers/{transfer['id']}/complete")
    done.raise_for_status()
    t2 = time.perf_counter()
    assert done.json()["status"] == "ready", done.json()
    api.post(f"/workspace-runs/{run_id}/cancel")  # the bench run is never started
    return t2 - t0, t2 - t1, run_id


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--s3", action="store_true", help="boto3 vs presigned vs chunked")
    parser.add_argument(
        "--web-pid", type=int, help="the web server's pid (default: var/run/web.pid)"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="parts sent at a time")
    args = parser.parse_args()
    path = archive(args.size_mb)
    size = path.stat().st_size
    mb = size / 1e6
    pid = args.web_pid or int((ROOT / "var" / "run" / "web.pid").read_text())
    if args.s3:
        from bench.upload_s3 import report

        report(path, BASE, token(), time_sha256(path)[1], pid, args.concurrency)
        return
    api = httpx.Client(
        base_url=f"{BASE}/api/v1",
        headers={"Authorization": f"Bearer {token()}"},
        timeout=None,
    )

    chunk = int(os.environ.get("CROWNEST_TRANSFER_CHUNK", 8 << 20))
    cpu0 = cpu_seconds(pid)
    ceiling_s = time_ceiling(path, chunk, api.headers["Authorization"])
    ceiling_cpu = cpu_seconds(pid) - cpu0
    cp_s = time_cp(path)
    sha_s, sha256 = time_sha256(path)
    at_rest = rss_kib(pid)
    sampler = RssSampler(pid)
    sampler.start()
    cpu0 = cpu_seconds(pid)
    up_s, verify_s, run_id = upload(api, path, sha256)
    up_cpu = cpu_seconds(pid) - cpu0
    sampler.stop.set()
    sampler.join()

    slower = min(mb / cp_s, mb / sha_s)
    print(f"archive: {path} ({mb:.1f} MB)")
    print(f"cp:              {mb / cp_s:8.1f} MB/s  ({cp_s:.2f} s)")
    print(f"sha256 (1 MiB):  {mb / sha_s:8.1f} MB/s  ({sha_s:.2f} s)")
    print(
        f"staged transfer: {mb / up_s:8.1f} MB/s  ({up_s:.2f} s, of which complete/verify "
        f"{verify_s:.2f} s)  run {run_id}"
    )
    print(f"web CPU for the transfer: {up_cpu:.2f} s ({up_cpu / (mb / 1000):.2f} s per GB)")
    print(
        f"body ceiling ({chunk >> 20} MiB PUTs, 404 view):  {mb / ceiling_s:8.1f} MB/s  "
        f"(web CPU {ceiling_cpu / (mb / 1000):.2f} s per GB)"
    )
    print(f"ratio to the slower of cp and sha256: {mb / up_s / slower:.0%} (target >= 50%)")
    growth = (sampler.peak - at_rest) / 1024
    print(
        f"web RSS: at rest {at_rest / 1024:.1f} MB, peak {sampler.peak / 1024:.1f} MB, "
        f"growth {growth:.1f} MB (target < 64 MB)"
    )


if __name__ == "__main__":
    main()
