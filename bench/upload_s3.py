"""The object-storage half of bench/upload.py (`--s3`): one archive uploaded three ways to the
same S3 server, side by side in one invocation:

1. a plain boto3 multipart upload (`upload_file`, boto3's defaults): the baseline;
2. a presigned transfer through the Python SDK: parts PUT straight to the bucket, then
   `complete` (one streaming read: sha256 + member checks);
3. a chunked transfer through the web process (`mode: "chunked"`), for reference.

For each, the web (daphne) process's CPU time is read from /proc/<pid>/stat before and after
and reported per GB. The stack must run with CROWNEST_S3_* set; the same variables tell this
script where the bucket is."""

import os
import time
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig
from crownest_client import Client
from crownest_client.presigned import upload_presigned

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (fields 14 and 15 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def s3_from_env():
    client = boto3.client(
        "s3",
        endpoint_url=os.environ.get("CROWNEST_S3_ENDPOINT_URL") or None,
        aws_access_key_id=os.environ.get("CROWNEST_S3_ACCESS_KEY_ID") or None,
        aws_secret_access_key=os.environ.get("CROWNEST_S3_SECRET_ACCESS_KEY") or None,
        region_name=os.environ.get("CROWNEST_S3_REGION") or None,
    )
    return client, os.environ["CROWNEST_S3_BUCKET"]


def time_boto3(path: Path, config: TransferConfig) -> float:
    s3, bucket = s3_from_env()
    key = f"bench/boto3-{time.time_ns()}.tar.gz"
    t0 = time.perf_counter()
    s3.upload_file(str(path), bucket, key, Config=config)
    elapsed = time.perf_counter() - t0
    s3.delete_object(Bucket=bucket, Key=key)
    return elapsed


def _new_run(sdk: Client, path: Path, sha256: str):
    meta = {"sizeBytes": path.stat().st_size, "sha256": sha256, "filename": path.name}
    return sdk.create_run(template="python-node", command="true", archive=meta)


def time_presigned(sdk: Client, path: Path, sha256: str, pid: int, concurrency: int) -> dict:
    run = _new_run(sdk, path, sha256)
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    transfer = sdk.create_transfer(run.id)
    assert transfer.mode == "presigned", "the stack does not offer presigned transfers"
    parts = upload_presigned(sdk, transfer.raw, path, concurrency=concurrency)
    cpu1, t1 = cpu_seconds(pid), time.perf_counter()
    done = sdk.complete_transfer(transfer.id, parts)
    cpu2, t2 = cpu_seconds(pid), time.perf_counter()
    assert done.status == "ready", done.raw
    sdk.cancel(run.id)
    return {
        "upload_s": t1 - t0,
        "complete_s": t2 - t1,
        "upload_cpu": cpu1 - cpu0,
        "complete_cpu": cpu2 - cpu1,
        "parts": len(parts),
        "part_mib": transfer.chunk_size_bytes >> 20,
    }


def time_chunked(sdk: Client, path: Path, sha256: str, pid: int) -> dict:
    run = _new_run(sdk, path, sha256)
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    done = sdk.upload_staged(run.id, path, mode="chunked")
    cpu1, t1 = cpu_seconds(pid), time.perf_counter()
    assert done.status == "ready", done.raw
    sdk.cancel(run.id)
    return {"total_s": t1 - t0, "cpu": cpu1 - cpu0}


def report(path: Path, base_url: str, token: str, sha256: str, pid: int, concurrency: int):
    size = path.stat().st_size
    mb, gb = size / 1e6, size / 1e9
    default_s = time_boto3(path, TransferConfig())
    with Client(base_url, token, timeout=600) as sdk:
        pre = time_presigned(sdk, path, sha256, pid, concurrency)
        chunked = time_chunked(sdk, path, sha256, pid)
    part = pre["part_mib"] << 20
    matched_s = time_boto3(
        path, TransferConfig(multipart_chunksize=part, max_concurrency=concurrency)
    )
    boto_s = min(default_s, matched_s)  # the faster baseline
    pre_total = pre["upload_s"] + pre["complete_s"]
    endpoint = os.environ.get("CROWNEST_S3_ENDPOINT_URL") or "AWS"
    print(f"archive: {path} ({mb:.1f} MB); S3 endpoint {endpoint}")
    print(f"boto3 multipart (defaults: 8 MiB, 10 threads): {mb / default_s:8.1f} MB/s")
    print(
        f"boto3 multipart ({pre['part_mib']} MiB, {concurrency} threads):  "
        f"{mb / matched_s:8.1f} MB/s  ({matched_s:.2f} s)"
    )
    print(
        f"presigned parts (SDK, {pre['parts']} x {pre['part_mib']} MiB, {concurrency} at a time): "
        f"{mb / pre['upload_s']:8.1f} MB/s  ({pre['upload_s']:.2f} s)"
    )
    print(
        f"  + complete (sha256 + member walk, one GetObject): {pre['complete_s']:.2f} s; "
        f"total {mb / pre_total:.1f} MB/s"
    )
    ratio = boto_s / pre["upload_s"]
    print(f"  ratio to the faster boto3, parts only: {ratio:.0%} (target >= 80%)")
    print(f"  ratio to the faster boto3, with complete: {boto_s / pre_total:.0%}")
    print(
        f"  web CPU per GB: {pre['upload_cpu'] / gb:.3f} s while parts go to storage, "
        f"{pre['complete_cpu'] / gb:.2f} s for complete (the verification read)"
    )
    print(
        f"chunked through the web process: {mb / chunked['total_s']:8.1f} MB/s "
        f"({chunked['total_s']:.2f} s, with complete); web CPU {chunked['cpu'] / gb:.2f} s/GB"
    )
