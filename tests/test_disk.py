"""The per-run disk limit: /workspace is a filesystem of CROWNEST_SANDBOX_DISK (128m in the
suite's worker), so a run cannot fill the host's disk."""

import io
import os
import shutil
import tarfile

import pytest
from django.conf import settings

from .helpers import archive_meta, make_targz

pytestmark = pytest.mark.docker

LIMIT = 128 * 1024 * 1024


def host_free() -> int:
    return shutil.disk_usage("/var/lib/docker").free


def test_writing_past_the_limit_fails_the_run_as_disk_limit(runs, worker):
    before = host_free()
    script = (
        "echo kept > early.txt; df -k /workspace | tail -1; "
        "dd if=/dev/zero of=/workspace/big bs=1M count=400 2>&1 | grep -E 'No space|copied'; "
        "ls -l big | cut -c1-40; exit 3"
    )
    run = runs.submit({"a.txt": "a"}, command=script, artifactPaths=["early.txt"])
    done = runs.wait(run["id"], timeout=120)
    after = host_free()
    assert (done["status"], done["failureReason"], done["exitCode"]) == ("failed", "disk_limit", 3)
    out = runs.output(run["id"])
    assert "No space left on device" in out
    size_kib = int(out.splitlines()[0].split()[1])
    assert 100 * 1024 < size_kib <= LIMIT // 1024  # df inside shows the run's own filesystem
    events = runs.events(run["id"])
    errors = [e["data"] for e in events if e["type"] == "error"]
    assert errors and errors[-1]["code"] == "disk_limit" and "128m" in errors[-1]["message"]
    collected = [e["data"]["path"] for e in events if e["type"] == "artifact_collected"]
    assert collected == ["early.txt"]  # artifacts are still collected
    # The host lost at most the run's limit while it ran (and its image is gone now).
    assert before - after < LIMIT + 32 * 1024 * 1024, (before, after)
    assert not any(
        f.endswith(f"{run['id']}-workspace.img")
        for _, _, files in os.walk(settings.CROWNEST_SANDBOX_DISK_DIR)
        for f in files
    )


def many_files_targz(count: int) -> bytes:
    """Tiny files, each taking a whole block: small expanded size, large use on disk."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i in range(count):
            info = tarfile.TarInfo(f"d{i // 1000}/f{i}")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    return buf.getvalue()


def test_an_archive_that_does_not_fit_fails_as_disk_limit(runs, worker):
    data = many_files_targz(40_000)  # 40,000 blocks of 4 KiB: ~160 MiB on a 128 MiB disk
    run = runs.create(data, command="true")
    assert runs.upload(run["id"], data).status_code == 200
    assert runs.start(run["id"]).status_code == 202
    done = runs.wait(run["id"], timeout=180)
    assert (done["status"], done["failureReason"]) == ("failed", "disk_limit")
    error = [e["data"] for e in runs.events(run["id"]) if e["type"] == "error"][-1]
    assert error["code"] == "disk_limit" and "does not fit in the workspace" in error["message"]


def test_an_archive_declaring_more_than_the_limit_is_refused_before_extraction(runs, worker):
    big = {"zeros.bin": b"\0" * (LIMIT + 1024 * 1024)}
    data = make_targz(big)
    assert len(data) < 2 * 1024 * 1024 and archive_meta(data)["sizeBytes"] == len(data)
    run = runs.submit(big, command="true")
    done = runs.wait(run["id"], timeout=60)
    assert (done["status"], done["failureReason"]) == ("failed", "disk_limit")
    error = [e["data"] for e in runs.events(run["id"]) if e["type"] == "error"][-1]
    assert "expands to" in error["message"] and "128m" in error["message"]
    phases = [e["data"]["phase"] for e in runs.events(run["id"]) if e["type"] == "archive_progress"]
    assert "extract" not in phases
