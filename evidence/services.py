"""The Evidence Bundle: built once from the database after the terminal event, then frozen."""

import hashlib
import json

from django.db import IntegrityError, transaction
from django.utils import timezone

from runs.ending import sandbox_kept
from runs.errors import EvidenceNotReady
from runs.ids import iso
from runs.models import Run, RunEvent
from runs.stream.events import event_json

from .models import EvidenceBundle

SCHEMA = "crownest.evidence/v1"


def canonical(data) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes the bundle digest is taken over."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def events_digest(run_id: str) -> dict:
    """sha256 over each event's JSON (as the API serves it) followed by a newline, in seq order."""
    digest, count, last, terminal = hashlib.sha256(), 0, 0, None
    for event in RunEvent.objects.filter(run_id=run_id).order_by("seq").iterator(chunk_size=2000):
        digest.update(event_json(event).encode())
        digest.update(b"\n")
        count, last = count + 1, event.seq
        if event.type == "terminal":
            terminal = json.loads(event_json(event))
    return {"count": count, "lastSeq": last, "sha256": digest.hexdigest()}, terminal


def evidence_for(*, run: Run) -> EvidenceBundle:
    """The run's bundle; EvidenceNotReady until the run has ended and it is written."""
    bundle = EvidenceBundle.objects.filter(run=run).first()
    if bundle is None:
        raise EvidenceNotReady(
            f"The Evidence Bundle is written when the run ends; this run is {run.status}. "
            "Ask again after its terminal event.",
            {"status": run.status},
        )
    return bundle


def on_run_ended(sender, *, run_id: str, **_) -> None:
    evidence_build(run_id=run_id)


def evidence_build(*, run_id: str) -> EvidenceBundle:
    existing = EvidenceBundle.objects.filter(run_id=run_id).first()
    if existing:
        return existing
    run = Run.objects.select_related("owner", "team").get(pk=run_id)
    if not run.is_terminal or run.terminal_seq is None:
        raise ValueError(f"run {run_id} has not ended")
    data = bundle_data(run)
    try:
        with transaction.atomic():
            return EvidenceBundle.objects.create(
                run=run, data=data, sha256=hashlib.sha256(canonical(data)).hexdigest()
            )
    except IntegrityError:  # another process wrote it first; the first one stands
        return EvidenceBundle.objects.get(run_id=run_id)


def bundle_data(run: Run) -> dict:
    event_summary, terminal = events_digest(run.id)
    artifacts = [
        {"id": a.id, "path": a.path, "sizeBytes": a.size_bytes, "sha256": a.sha256}
        for a in run.artifacts.order_by("created_at", "path")
    ]
    return {
        "schema": SCHEMA,
        "runId": run.id,
        "status": run.status,
        "exitCode": run.exit_code,
        "failureReason": run.failure_reason or None,
        "command": run.command,
        "template": {
            "name": run.template,
            "image": run.image or None,
            "imageDigest": run.image_digest or None,
        },
        "timestamps": _timestamps(run),
        "source": _source(run),
        "artifacts": artifacts,
        "artifactIds": [a["id"] for a in artifacts],
        "events": event_summary,
        "terminalEvent": terminal,
        # Written before the sandbox is removed: whether it is kept, not when it went.
        "sandbox": {
            "id": run.sandbox_id or None,
            "kept": bool(run.sandbox_id) and sandbox_kept(run),
        },
        "limits": run.limits or {"timeoutSeconds": run.timeout_seconds},
    }


def _timestamps(run: Run) -> dict:
    return {
        "createdAt": iso(run.created_at),
        "archiveVerifiedAt": iso(run.archive_verified_at),
        "queuedAt": iso(run.queued_at),
        "startedAt": iso(run.started_at),
        "commandStartedAt": iso(run.command_started_at),
        "commandFinishedAt": iso(run.command_finished_at),
        "terminalAt": iso(run.finished_at),
        "evidenceWrittenAt": iso(timezone.now()),
    }


def _source(run: Run) -> dict:
    return {
        "archive": {
            "sha256": run.archive_sha256,
            "sizeBytes": run.archive_size_bytes,
            "filename": run.archive_filename or None,
            "uploadMethod": run.archive_upload_method or None,
            "fileCount": run.archive_file_count,
            "expandedBytes": run.archive_expanded_bytes,
        },
        "submittedBy": run.owner.get_username(),
        "team": run.team.slug if run.team else None,
        "client": run.client or None,
    }
