"""The worker's side of a run's recording: the proxy's spool log and bodies become the run's
NetworkRequest rows and content-addressed blobs (shared between runs, in the blob store: local
disk or S3); a replay gets the recorded answers and bodies of the run it replays."""

import hashlib
import json
from pathlib import Path

from django.core.files import File
from django.db import transaction
from django.utils import timezone

from ..blobs import storage
from . import control
from .models import NetworkRequest, RunNetwork
from .record import REFUSED

PUBLIC_FIELDS = (
    "seq", "method", "url", "status", "bytes", "sha256", "contentType", "durationMs",
    "decision", "reason",
)  # fmt: skip
REPLAYABLE = (NetworkRequest.Decision.ALLOWED, NetworkRequest.Decision.REPLAYED)


def body_name(sha256: str) -> str:
    return f"egress/sha256/{sha256[:2]}/{sha256}"


def request_dict(row: NetworkRequest) -> dict:
    """One request as the API, the NDJSON log and the evidence show it."""
    return {
        "seq": row.seq,
        "method": row.method,
        "url": row.url,
        "status": row.status,
        "bytes": row.size_bytes,
        "sha256": row.sha256,
        "contentType": row.content_type,
        "durationMs": row.duration_ms,
        "decision": row.decision,
        "reason": row.reason,
    }


def request_line(row: NetworkRequest) -> bytes:
    """The canonical line (sorted keys, no spaces; JCS for these values) of .../network.ndjson."""
    text = json.dumps(request_dict(row), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return text.encode() + b"\n"


def network_ndjson(run_id: str):
    for row in NetworkRequest.objects.filter(run_id=run_id).order_by("seq").iterator(2000):
        yield request_line(row)


def spool_entries(folder: Path) -> list[dict]:
    path = folder / control.LOG
    if not path.exists():
        return []
    entries = []
    for line in path.read_bytes().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:  # a line cut by a killed proxy
            continue
    return entries


def _row(run_id: str, entry: dict) -> NetworkRequest:
    return NetworkRequest(
        run_id=run_id,
        seq=entry["seq"],
        method=entry["method"],
        url=entry["url"],
        host=entry["host"],
        status=entry["status"],
        size_bytes=entry["bytes"],
        sha256=entry["sha256"],
        content_type=entry["contentType"],
        duration_ms=entry["durationMs"],
        decision=entry["decision"],
        reason=entry["reason"],
        headers=entry.get("headers") or {},
    )


def bodies_store(folder: Path, entries: list[dict]) -> None:
    """Each body the run downloaded, once in the blob store under its sha256."""
    store = storage()
    for sha in {e["sha256"] for e in entries if e["decision"] == "allowed" and e["sha256"]}:
        local = folder / control.BODIES / sha
        if store.exists(body_name(sha)) or not local.exists():
            continue
        with open(local, "rb") as fh:
            if hashlib.file_digest(fh, "sha256").hexdigest() != sha:
                continue  # never store bytes under a name they do not hash to
            fh.seek(0)
            store.save(body_name(sha), File(fh, name=sha))


def log_store(run_id: str, folder: Path) -> RunNetwork:
    """The spooled log as the run's NetworkRequest rows, with totals and the log's digest."""
    entries = spool_entries(folder)
    bodies_store(folder, entries)
    with transaction.atomic():
        NetworkRequest.objects.bulk_create(
            [_row(run_id, e) for e in entries], ignore_conflicts=True
        )
        digest = hashlib.sha256()
        for line in network_ndjson(run_id):
            digest.update(line)
        rows = NetworkRequest.objects.filter(run_id=run_id)
        RunNetwork.objects.filter(run_id=run_id).update(
            requests=rows.count(),
            refused=rows.filter(decision=REFUSED).count(),
            bytes=sum(rows.exclude(decision=REFUSED).values_list("size_bytes", flat=True)),
            log_sha256=digest.hexdigest(),
            recorded_at=timezone.now(),
        )
    return RunNetwork.objects.get(run_id=run_id)


def replay_prepare(folder: Path, original_id: str) -> int:
    """The original run's answers (replay.json) and their bodies, local to this host, for the
    proxy. Returns how many answers there are."""
    rows = NetworkRequest.objects.filter(
        run_id=original_id, decision__in=REPLAYABLE, status__isnull=False
    ).order_by("seq")
    entries, bodies = [], folder / control.REPLAY_BODIES
    bodies.mkdir(parents=True, exist_ok=True)
    store = storage()
    for row in rows:
        entries.append(
            {"method": row.method, "url": row.url, "status": row.status, "sha256": row.sha256,
             "headers": row.headers}
        )  # fmt: skip
        target = bodies / row.sha256
        if row.sha256 and not target.exists():
            with store.open(body_name(row.sha256), "rb") as src, open(target, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
    (folder / control.REPLAY).write_text(json.dumps(entries))
    return len(entries)


EMPTY_LOG = hashlib.sha256(b"").hexdigest()
DOWNLOADED = ("allowed", "replayed")


def network_evidence(run_id: str) -> dict:
    """The Evidence Bundle's `network`: the mode, the pinned allow list, the replayed run, the
    totals and the digest of the log (.../network.ndjson; empty for a run without network)."""
    network = RunNetwork.objects.filter(run_id=run_id).first()
    if network is None:
        return {"mode": "none", "allow": [], "replayOf": None, "requests": 0, "refused": 0,
                "bytes": 0, "logSha256": EMPTY_LOG}  # fmt: skip
    return {
        "mode": network.mode,
        "allow": list(network.allow),
        "replayOf": network.replay_of_id,
        "requests": network.requests,
        "refused": network.refused,
        "bytes": network.bytes,
        "logSha256": network.log_sha256 or EMPTY_LOG,
    }


def downloads(run_id: str) -> list[dict]:
    """Every successful download of the run, once per (URL, digest), in seq order: the signed
    Statement's resolvedDependencies."""
    seen, out = set(), []
    rows = NetworkRequest.objects.filter(
        run_id=run_id, decision__in=DOWNLOADED, status__gte=200, status__lt=300
    ).exclude(sha256="")
    for url, sha in rows.order_by("seq").values_list("url", "sha256"):
        if (url, sha) not in seen:
            seen.add((url, sha))
            out.append({"uri": url, "digest": {"sha256": sha}})
    return out
