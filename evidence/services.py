"""The Evidence Bundle: built once from the database after the terminal event, then frozen."""

import hashlib
import json
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from runs.egress.store import network_evidence
from runs.ending import sandbox_kept
from runs.ids import iso
from runs.models import Run, RunEvent
from runs.stream.events import event_dict

from . import attestation
from .canonical import JCS, canonical, event_line, legacy_event_line
from .errors import EvidenceNotReady
from .keys import KeyUnavailable, signing_key
from .models import Attestation, EvidenceBundle

log = logging.getLogger(__name__)
SCHEMA = "crownest.evidence/v1"


def events_ndjson(run_id: str, *, jcs: bool = True):
    """The event log as served at .../events.ndjson: each event's RFC 8785 bytes and a newline,
    in seq order (the legacy line form for a bundle written before JCS: the bytes it hashed).
    Its sha256 is the bundle's events.sha256."""
    line = event_line if jcs else legacy_event_line
    events = RunEvent.objects.filter(run_id=run_id).order_by("seq").iterator(chunk_size=2000)
    for event in events:
        yield line(event_dict(event))


def events_jcs(run_id: str) -> bool:
    """Whether the run's event log is served as JCS lines: yes, unless its bundle was written
    before JCS (then the lines its digest and signature name)."""
    marks = EvidenceBundle.objects.filter(run_id=run_id).values_list(
        "data__canonicalization", flat=True
    )
    return all(mark == JCS for mark in marks)


def events_digest(run_id: str) -> tuple[dict, dict | None]:
    digest, count, last, terminal = hashlib.sha256(), 0, 0, None
    for line in events_ndjson(run_id):
        digest.update(line)
        event = json.loads(line)
        count, last = count + 1, event["seq"]
        if event["type"] == "terminal":
            terminal = event
    return {"count": count, "lastSeq": last, "sha256": digest.hexdigest()}, terminal


def not_ready_message(what: str, run: Run) -> str:
    if run.is_terminal:
        return f"The {what} of this {run.status} run is being written; ask again in a moment."
    return (
        f"The {what} is written when the run ends, and this run is {run.status}: ask again "
        "after its terminal event."
    )


def evidence_for(*, run: Run) -> EvidenceBundle:
    """The run's bundle; EvidenceNotReady until the run has ended and it is written."""
    bundle = EvidenceBundle.objects.filter(run=run).first()
    if bundle is None:
        raise EvidenceNotReady(not_ready_message("Evidence Bundle", run), {"status": run.status})
    return bundle


def attestation_for(*, run: Run) -> Attestation:
    """The run's signed attestation; EvidenceNotReady until it is written."""
    found = Attestation.objects.filter(bundle__run=run).first()
    if found is None:
        raise EvidenceNotReady(not_ready_message("signed attestation", run), {"status": run.status})
    return found


def on_run_ended(sender, *, run_id: str, **_) -> None:
    # Raising here (no key) leaves the run's ending unfinished: the reaper comes back to it.
    attestation_ensure(evidence_build(run_id=run_id))


def evidence_build(*, run_id: str) -> EvidenceBundle:
    """The bundle, written once, with its signed attestation when this host has a key."""
    existing = EvidenceBundle.objects.filter(run_id=run_id).first()
    if existing:
        return existing
    run = Run.objects.select_related("owner", "team").get(pk=run_id)
    if not run.is_terminal or run.terminal_seq is None:
        raise ValueError(f"run {run_id} has not ended")
    data = bundle_data(run)
    try:
        key = signing_key()
    except KeyUnavailable as exc:  # the bundle is not held back; attestation_ensure signs later
        log.error("run %s: bundle written unsigned for now: %s", run_id, exc)
        key = None
    envelope = None
    if key is not None:
        envelope = attestation.envelope_sign(canonical(attestation.statement(run, data)), key)
        data["attestation"] = attestation_ref(run.id, key.keyid, envelope)
    try:
        with transaction.atomic():
            bundle = EvidenceBundle.objects.create(
                run=run, data=data, sha256=hashlib.sha256(canonical(data)).hexdigest()
            )
            if envelope is not None:
                attestation_store(bundle, envelope, key.keyid)
            return bundle
    except IntegrityError:  # another process wrote it first; the first one stands
        return EvidenceBundle.objects.get(run_id=run_id)


def attestation_ref(run_id: str, keyid: str, envelope: bytes) -> dict:
    base = f"{settings.PUBLIC_URL.rstrip('/')}/api/v1/workspace-runs/{run_id}/evidence"
    return {
        "url": f"{base}/attestation",
        "sigstoreBundleUrl": f"{base}/sigstore-bundle",
        "keyid": keyid,
        "sha256": attestation.envelope_digest(envelope),
    }


def attestation_store(bundle: EvidenceBundle, envelope: bytes, keyid: str) -> Attestation:
    return Attestation.objects.create(
        bundle=bundle,
        envelope=envelope.decode(),
        sha256=attestation.envelope_digest(envelope),
        keyid=keyid,
    )


def attestation_ensure(bundle: EvidenceBundle) -> Attestation:
    """Sign a bundle that has no attestation yet (written before signing existed, or while this
    host had no key). Idempotent; raises KeyUnavailable without a key."""
    found = Attestation.objects.filter(bundle=bundle).first()
    if found:
        return found
    key = signing_key()
    run = Run.objects.get(pk=bundle.run_id)
    envelope = attestation.envelope_sign(canonical(attestation.statement(run, bundle.data)), key)
    try:
        with transaction.atomic():
            return attestation_store(bundle, envelope, key.keyid)
    except IntegrityError:
        return Attestation.objects.get(bundle=bundle)


def bundle_data(run: Run) -> dict:
    event_summary, terminal = events_digest(run.id)
    artifacts = [
        {"id": a.id, "path": a.path, "sizeBytes": a.size_bytes, "sha256": a.sha256}
        for a in run.artifacts.order_by("created_at", "path")
    ]
    return {
        "schema": SCHEMA,
        # How this bundle's digest and its events.ndjson lines are serialised (docs/evidence.md).
        "canonicalization": JCS,
        "runId": run.id,
        "status": run.status,
        "exitCode": run.exit_code,
        "failureReason": run.failure_reason or None,
        "command": run.command,
        "template": {
            "name": run.template,
            "image": run.image or None,
            "imageDigest": run.image_digest or None,
            **registry_copy(run),
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
        "network": network_evidence(run.id),
    }


def registry_copy(run: Run) -> dict:
    """Where the installation's registry holds the run's image: its reference and manifest
    digest, beside the image id the run pinned (the manifest digest is not that id)."""
    version = run.template_version
    same = version is not None and version.image_digest == run.image_digest
    return {
        "registryRef": (version.registry_ref or None) if same else None,
        "registryDigest": (version.registry_digest or None) if same else None,
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
