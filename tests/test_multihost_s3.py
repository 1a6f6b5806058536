"""Hosts that share nothing but PostgreSQL, Redis and an S3 bucket: every blob lives in the
bucket, a web process configured for S3 hands out presigned part URLs (the CLI and SDKs send
the bytes straight to storage), and a worker reads the archive back from the bucket.

The S3 processes (daphne, worker) share a media root of their own, which must stay empty."""

import gzip
import hashlib
import json
import os
import subprocess
import tarfile
from pathlib import Path

import httpx
import pytest
from crownest_client import Client, StreamError
from rest_framework.test import APIClient

from runs.models import Transfer

from .helpers import CLI, ROOT, Stack, Staged, make_targz, stored_artifact, wait_until
from .s3support import BUCKET, files_under, open_uploads, s3_client

pytestmark = [pytest.mark.s3, pytest.mark.multihost]

MIB = 1024 * 1024


def big_archive(path: Path, size: int) -> Path:
    """A .tar.gz of `size` incompressible bytes, written as a stream (never whole in memory)."""
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w|") as tar,
    ):
        info = tarfile.TarInfo("data/blob.bin")
        info.size = size
        left = size

        class Source:
            def read(self, n=MIB):
                nonlocal left
                n = min(n if n > 0 else MIB, left)
                left -= n
                return os.urandom(n)

        tar.addfile(info, Source())
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def meta(path: Path) -> dict:
    return {"sizeBytes": path.stat().st_size, "sha256": sha256_of(path), "filename": path.name}


def part_number(request: httpx.Request) -> int:
    return int(request.url.params["partNumber"])


def test_a_300_mb_presigned_transfer_resumes_after_a_dropped_part(
    s3_web, moto, transactional_db, user, tmp_path
):
    path = big_archive(tmp_path / "big.tar.gz", 300 * 1000 * 1000)
    with Client(s3_web, Stack(s3_web).token(user), timeout=120) as sdk:
        run = sdk.create_run(
            template="python-node", command="true", archive=meta(path), reuse_archive=False
        )
        transfer = sdk.create_transfer(run.id)
        assert transfer.mode == "presigned" and transfer.raw["partCount"] == 58
        dropped, sent = 7, []

        def drop_once(request: httpx.Request):
            if request.method == "PUT" and part_number(request) == dropped and not sent:
                sent.append(dropped)
                raise httpx.ConnectError("dropped", request=request)

        sdk.storage.event_hooks["request"] = [drop_once]
        with pytest.raises(StreamError):
            sdk.upload_staged(run.id, path, transfer_id=transfer.id, max_retries=0)
        state = sdk.get_transfer(transfer.id).raw
        stored = [p["partNumber"] for p in state["storedParts"]]
        assert stored == [n for n in range(1, 59) if n != dropped]
        assert state["status"] == "open" and sdk.get_run(run.id).status == "awaiting_archive"

        # Resume (as another process would): only the missing part goes again.
        resent = []
        sdk.storage.event_hooks["request"] = [lambda r: resent.append(part_number(r))]
        ready = sdk.upload_staged(run.id, path, transfer_id=transfer.id)
        assert resent == [dropped]
        assert ready.status == "ready" and ready.raw["archive"]["uploadMethod"] == "staged"

    s3 = s3_client(moto)
    assert open_uploads(s3) == []
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"archives/{run.id}/")
    assert [o["Size"] for o in listed["Contents"]] == [path.stat().st_size]


def _finished(sdk: Client, run_id: str):
    run = sdk.get_run(run_id)
    return run if run.status in ("succeeded", "failed", "canceled") else None


def test_a_run_on_object_storage_writes_no_blob_under_the_media_root(
    s3_web, s3_worker, s3_media, moto, transactional_db, user, tmp_path
):
    payload = os.urandom(11 * MIB)
    path = tmp_path / "repo.tgz"
    path.write_bytes(make_targz({"big.bin": payload}))
    # The suite's worker keeps artifacts under 1 MiB each (helpers.WORKER_ENV).
    command = (
        "mkdir -p out && sha256sum big.bin > out/sum.txt && head -c 524288 big.bin > out/copy.bin"
    )
    with Client(s3_web, Stack(s3_web).token(user), timeout=120) as sdk:
        run = sdk.create_run(
            template="python-node",
            command=command,
            archive=meta(path),
            artifact_paths=["out/"],
            reuse_archive=False,
        )
        assert sdk.upload_staged(run.id, path).status == "ready"  # presigned parts
        sdk.start(run.id)
        done = wait_until(lambda: _finished(sdk, run.id), timeout=120, message="run never ended")
        assert done.status == "succeeded", done.raw
        artifacts = {a.path: a for a in sdk.list_artifacts(run.id)}
        assert set(artifacts) == {"out/sum.txt", "out/copy.bin"}
        # Downloads answer a redirect to the bucket (CROWNEST_ARTIFACT_REDIRECT in s3_web).
        copy = sdk.download_artifact(artifacts["out/copy.bin"].id, tmp_path / "copy.bin")
        assert copy.read_bytes() == payload[:524288]
        summed = sdk.download_artifact(artifacts["out/sum.txt"].id, tmp_path / "sum.txt")
        assert hashlib.sha256(payload).hexdigest() in summed.read_text()
        assert sdk.get_evidence(run.id).status == "succeeded"
        exported = [json.loads(line) for line in sdk.get_events_ndjson(run.id).splitlines()]
        assert [e["seq"] for e in exported] == list(range(1, len(exported) + 1))

        # A direct upload (under the direct limit) lands in the bucket as well.
        other = sdk.create_run(
            template="python-node", command="true", archive=meta(path), reuse_archive=False
        )
        assert sdk.upload_archive(other.id, path).status == "ready"

    s3 = s3_client(moto)
    for prefix in (f"archives/{run.id}/", f"artifacts/{run.id}/", f"archives/{other.id}/"):
        assert s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("KeyCount", 0) >= 1, prefix
    assert files_under(s3_media) == []


@pytest.mark.django_db
def test_artifact_downloads_redirect_to_a_short_lived_url(on_s3, api, other_api, settings):
    run = Staged(api).run(make_targz({"a": "b"}))
    body = b"hello from the bucket\n"
    artifact = stored_artifact(run["id"], "out/héllo.txt", body)
    url = f"/api/v1/artifacts/{artifact.id}/download"
    streamed = api.get(url)
    assert streamed.status_code == 200 and b"".join(streamed.streaming_content) == body

    settings.CROWNEST_ARTIFACT_REDIRECT = True
    settings.CROWNEST_ARTIFACT_REDIRECT_SECONDS = 60
    resp = api.get(url)
    assert resp.status_code == 302 and resp["ETag"] == f'"{artifact.sha256}"'
    location = resp["Location"]
    assert location.startswith(on_s3.meta.endpoint_url) and "X-Amz-Expires=60" in location
    fetched = httpx.get(location)
    assert fetched.status_code == 200 and fetched.content == body
    assert "attachment" in fetched.headers["content-disposition"]
    assert "h%C3%A9llo.txt" in fetched.headers["content-disposition"]
    # Checked before any redirect: not visible to another user, nor without credentials.
    assert other_api.get(url).status_code == 404
    assert APIClient().get(url).status_code == 401
    assert api.get(url, HTTP_IF_NONE_MATCH=f'"{artifact.sha256}"').status_code == 304


def test_the_cli_sends_a_staged_archive_straight_to_the_bucket(
    s3_web, transactional_db, user, tmp_path
):
    path = tmp_path / "repo.tgz"
    path.write_bytes(make_targz({"big.bin": os.urandom(6 * MIB)}))
    token = Stack(s3_web).token(user)
    with Client(s3_web, token) as sdk:
        run = sdk.create_run(
            template="python-node", command="true", archive=meta(path), reuse_archive=False
        )
    env = {
        **os.environ,
        "CROWNEST_URL": s3_web,
        "CROWNEST_TOKEN": token,
        "CROWNEST_CONFIG": str(tmp_path / "no-config.json"),
    }
    argv = [CLI, "runs", "upload", run.id, str(path), "--staged"]
    res = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert [t.mode for t in Transfer.objects.filter(run_id=run.id)] == ["presigned"]
    assert Transfer.objects.get(run_id=run.id).status == "completed"


@pytest.mark.node
def test_the_typescript_sdk_sends_parts_straight_to_the_bucket(s3_web, transactional_db, user):
    ts = ROOT / "clients" / "typescript"
    for cmd in (["npm", "ci", "--no-audit", "--no-fund"], ["npm", "run", "build"]):
        if cmd[1] == "ci" and (ts / "node_modules" / ".bin" / "tsc").exists():
            continue
        out = subprocess.run(cmd, cwd=ts, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    env = {**os.environ, "CROWNEST_URL": s3_web, "CROWNEST_TOKEN": Stack(s3_web).token(user)}
    res = subprocess.run(
        ["node", "--test", "test/presigned.test.mjs"],
        cwd=ts,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
