"""Artifacts: the requested paths, collected after the command, hashed once, stored."""

import mimetypes
import shutil
import tempfile
import time

from django.conf import settings
from django.core.files import File

from ..blobs import storage
from ..models import Artifact, Run
from ..stream import events
from .command import touch


def artifact_limits() -> dict:
    return {
        "maxFileBytes": settings.CROWNEST_ARTIFACT_MAX_BYTES,
        "maxTotalBytes": settings.CROWNEST_ARTIFACT_MAX_TOTAL,
        "maxFiles": settings.CROWNEST_ARTIFACT_MAX_FILES,
        "maxEntries": settings.CROWNEST_COLLECT_MAX_ENTRIES,
        "maxDepth": settings.CROWNEST_COLLECT_MAX_DEPTH,
        "maxErrors": settings.CROWNEST_COLLECT_MAX_ERRORS,
        "maxPathChars": Artifact._meta.get_field("path").max_length,
        "seconds": settings.CROWNEST_COLLECT_SECONDS,
    }


class Beat:
    """Keeps a collecting run alive (worker_seen_at, as the command loop does): the reaper
    must never take a run whose worker is busy collecting for a lost one."""

    def __init__(self, run_id: str):
        self.run_id, self.last = run_id, time.monotonic()

    def __call__(self, *, force: bool = True) -> None:
        now = time.monotonic()
        if force or now - self.last >= settings.CROWNEST_HEARTBEAT_SECONDS:
            touch(self.run_id)
            self.last = now


def artifacts_collect(*, sandbox, spec, run: Run) -> None:
    """One artifact_collected event per stored file, one artifact_error per refused path, and an
    `error` (collect_timeout) when the collector was cut at CROWNEST_COLLECT_SECONDS."""
    work = tempfile.mkdtemp(prefix=f"collect-{run.id}-")
    beat = Beat(run.id)
    try:
        result = sandbox.collect(spec, list(run.artifact_paths), artifact_limits(), work, beat)
        for collected in result.files:
            beat(force=False)
            artifact = artifact_store(run=run, collected=collected)
            data = {
                "artifactId": artifact.id,
                "path": artifact.path,
                "sizeBytes": artifact.size_bytes,
                "sha256": artifact.sha256,
            }
            events.append(run.id, [("artifact_collected", data)])
        if result.errors:
            events.append(run.id, [("artifact_error", e) for e in result.errors])
        if result.timed_out:
            events.append(run.id, [("error", collect_timeout())])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def collect_timeout() -> dict:
    seconds = settings.CROWNEST_COLLECT_SECONDS
    message = (
        f"Collecting artifacts took longer than {seconds:g} s and was stopped; files collected "
        "before then are kept. Ask for fewer or smaller paths (a directory, not the workspace)."
    )
    return {"code": "collect_timeout", "message": message}


def artifact_store(*, run: Run, collected) -> Artifact:
    artifact = Artifact(
        run=run,
        path=collected.path,
        size_bytes=collected.size_bytes,
        sha256=collected.sha256,
        content_type=mimetypes.guess_type(collected.path)[0] or "application/octet-stream",
    )
    with open(collected.local_path, "rb") as fh:
        artifact.file = storage().save(
            f"artifacts/{run.id}/{artifact.id}", File(fh, name=artifact.id)
        )
    artifact.save()
    return artifact
