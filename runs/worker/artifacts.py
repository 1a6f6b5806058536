"""Artifacts: the requested paths, collected after the command, hashed once, stored."""

import mimetypes
import shutil
import tempfile

from django.conf import settings
from django.core.files import File

from ..blobs import storage
from ..models import Artifact, Run
from ..stream import events


def artifact_limits() -> dict:
    return {
        "maxFileBytes": settings.CROWNEST_ARTIFACT_MAX_BYTES,
        "maxTotalBytes": settings.CROWNEST_ARTIFACT_MAX_TOTAL,
        "maxFiles": settings.CROWNEST_ARTIFACT_MAX_FILES,
    }


def artifacts_collect(*, sandbox, spec, run: Run) -> None:
    """One artifact_collected event per stored file, one artifact_error per refused path."""
    work = tempfile.mkdtemp(prefix=f"collect-{run.id}-")
    try:
        result = sandbox.collect(spec, list(run.artifact_paths), artifact_limits(), work)
        for collected in result.files:
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
    finally:
        shutil.rmtree(work, ignore_errors=True)


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
