"""`run_archive`: pack, upload, start, follow, collect — the whole run in one call."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .client import Client, Progress
from .errors import ApiError, ArchiveTooLarge, CrownestError, RunNotStarted
from .models import Artifact, Event, Evidence, Run
from .packing import DEFAULT_EXCLUDE, file_digest, pack_directory

DIRECT_LIMIT = 32 * 1024 * 1024  # the server's default; a 413 with useStagedTransfer also switches
# What `crownest evidence verify DIR` reads (docs/evidence.md), next to the artifacts.
BUNDLE_FILE, ATTESTATION_FILE = "evidence.json", "attestation.dsse.json"
EVENTS_FILE, KEYS_FILE = "events.ndjson", "evidence-keys.json"
NETWORK_FILE = "network.ndjson"  # a network run's request log (its sha256 is signed)
EVIDENCE_FILES = (BUNDLE_FILE, ATTESTATION_FILE, EVENTS_FILE, KEYS_FILE, NETWORK_FILE)


@dataclass
class RunResult:
    run: Run
    terminal: dict  # the terminal event's data
    last_seq: int
    artifacts: list[Artifact] = field(default_factory=list)
    artifact_files: dict[str, Path] = field(default_factory=dict)
    evidence: Evidence | None = None
    upload_method: str = "direct"

    @property
    def status(self) -> str:
        return self.terminal["status"]

    @property
    def exit_code(self) -> int | None:
        return self.terminal.get("exitCode")

    @property
    def failure_reason(self) -> str | None:
        return self.terminal.get("failureReason")

    def to_json(self) -> dict:
        return {
            "runId": self.run.id,
            "status": self.status,
            "exitCode": self.exit_code,
            "failureReason": self.failure_reason,
            "durationSeconds": self.terminal.get("durationSeconds"),
            "lastSeq": self.last_seq,
            "uploadMethod": self.upload_method,
            "artifacts": [
                {
                    "id": a.id,
                    "path": a.path,
                    "sizeBytes": a.size_bytes,
                    "sha256": a.sha256,
                    "file": str(self.artifact_files[a.id]) if a.id in self.artifact_files else None,
                }
                for a in self.artifacts
            ],
            "evidenceSha256": self.evidence.sha256 if self.evidence else None,
        }


def safe_join(root: Path, relative: str) -> Path:
    """Artifact paths come from the server; never let one write outside `root`."""
    target = (root / relative).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ValueError(f"artifact path {relative!r} leaves {root}")
    return target


def upload(
    client: Client,
    run: Run,
    archive: Path,
    size: int,
    *,
    method: str = "auto",
    direct_limit: int = DIRECT_LIMIT,
    on_progress: Progress = None,
) -> tuple[Run, str]:
    """Direct when small enough, staged otherwise or when the server asks for it."""
    if method == "direct" or (method == "auto" and size <= direct_limit):
        try:
            return client.upload_archive(run.id, archive, on_progress=on_progress), "direct"
        except ArchiveTooLarge as err:
            if not err.use_staged_transfer or method == "direct":
                raise
    return client.upload_staged(run.id, archive, on_progress=on_progress), "staged"


def run_archive(
    client: Client,
    path_or_dir: str | Path,
    *,
    command: str | list[str],
    template: str = "python-node",
    artifact_paths: list[str] | None = None,
    timeout_seconds: int | None = None,
    keep_sandbox: bool = False,
    env: dict[str, str] | None = None,
    team: str | None = None,
    out_dir: str | Path | None = None,
    on_event: Callable[[Event], None] | None = None,
    on_run: Callable[[Run], None] | None = None,
    on_progress: Progress = None,
    upload_method: str = "auto",
    direct_limit: int = DIRECT_LIMIT,
    exclude=DEFAULT_EXCLUDE,
    reuse_archive: bool = True,
    network: str = "none",
    replay_of: str | None = None,
) -> RunResult:
    """Run `command` on a directory (packed deterministically) or an existing .tar.gz.
    When the run is created but its upload or start fails, it is canceled and RunNotStarted
    (with the cause) is raised: a failed call leaves no run waiting.
    With `out_dir`, artifacts land at `out_dir/<artifact path>` and the bundle at
    `out_dir/evidence.json`, with the attestation, event log and keys beside it (save_evidence).
    `on_run` sees the run as soon as it exists (to print its id or
    cancel it); `on_event` sees every event in order. An archive the service already stores
    for you or your teams is not sent again (`result.upload_method == "reused"`) unless
    `reuse_archive` is False."""
    source = Path(path_or_dir)
    tmp = None
    try:
        if source.is_dir():
            fd, tmp = tempfile.mkstemp(suffix=".tgz", prefix="crownest-")
            with os.fdopen(fd, "wb") as fh:
                pack_directory(source, fh, exclude=exclude)
            archive, filename = Path(tmp), f"{source.resolve().name or 'workspace'}.tgz"
        else:
            archive, filename = source, source.name
        size, sha = file_digest(archive)
        run = client.create_run(
            template=template,
            command=command,
            archive={"sizeBytes": size, "sha256": sha, "filename": filename},
            artifact_paths=artifact_paths,
            timeout_seconds=timeout_seconds,
            keep_sandbox=keep_sandbox,
            env=env,
            team=team,
            reuse_archive=reuse_archive,
            network=network,
            replay_of=replay_of,
        )
        if on_run:
            on_run(run)
        try:
            if reused(run):
                method = "reused"
            else:
                run, method = upload(
                    client,
                    run,
                    archive,
                    size,
                    method=upload_method,
                    direct_limit=direct_limit,
                    on_progress=on_progress,
                )
            client.start(run.id)
        except (CrownestError, httpx.HTTPError, OSError) as exc:
            raise not_started(client, run.id, exc) from exc
    finally:
        if tmp:
            os.unlink(tmp)
    return follow(client, run.id, on_event=on_event, out_dir=out_dir, upload_method=method)


def reused(run: Run) -> bool:
    """The service already had this archive: the new run is ready, nothing is to be sent."""
    return run.status == "ready" and run.archive.upload_method == "reused"


def not_started(client: Client, run_id: str, cause: BaseException) -> RunNotStarted:
    """A run this call created but could not start: cancel it, so that nothing is left
    waiting for an archive that will not come."""
    try:
        client.cancel(run_id)
    except (CrownestError, httpx.HTTPError, OSError) as exc:
        return RunNotStarted(run_id, cause, canceled=False, cancel_error=exc)
    return RunNotStarted(run_id, cause, canceled=True)


def follow(
    client: Client,
    run_id: str,
    *,
    after_seq: int = 0,
    on_event: Callable[[Event], None] | None = None,
    out_dir: str | Path | None = None,
    upload_method: str = "direct",
) -> RunResult:
    """Follow a started run to its end, then fetch artifacts and evidence."""
    terminal, last = None, after_seq
    for event in client.stream_events(run_id, after_seq=after_seq):
        last = event.seq
        if on_event:
            on_event(event)
        if event.type == "terminal":
            terminal = event.data
    result = RunResult(client.get_run(run_id), terminal or {}, last, upload_method=upload_method)
    result.artifacts = client.list_artifacts(run_id)
    result.evidence = client.get_evidence(run_id)
    if out_dir is not None:
        root = Path(out_dir)
        root.mkdir(parents=True, exist_ok=True)
        for artifact in result.artifacts:
            dest = safe_join(root, artifact.path)
            result.artifact_files[artifact.id] = client.download_artifact(artifact.id, dest)
        save_evidence(client, run_id, root, evidence=result.evidence)
    return result


def save_evidence(
    client: Client,
    run_id: str,
    out_dir: str | Path,
    *,
    evidence: Evidence | None = None,
    artifacts: bool = False,
) -> dict[str, Path]:
    """Write what an offline check needs (`crownest evidence verify DIR`, verify.verify_folder)
    into out_dir: evidence.json, attestation.dsse.json (the envelope's bytes exactly as served),
    events.ndjson (the exact bytes that were hashed) and evidence-keys.json; with `artifacts`,
    also every artifact at out_dir/<its path>. A file the service does not have (404: a run
    finished before the service signed its evidence, an artifact since deleted) is left out;
    the check then names it (a missing artifact is "not downloaded, not checked").
    Returns {file name or artifact path: where it went}."""
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    evidence = evidence or client.get_evidence(run_id)
    saved: dict[str, Path] = {}
    if artifacts:
        for artifact in evidence.artifacts:
            dest = safe_join(root, artifact["path"])
            try:
                saved[artifact["path"]] = client.download_artifact(artifact["id"], dest)
            except ApiError as exc:
                if exc.status != 404:
                    raise
                dest.unlink(missing_ok=True)  # never leave an earlier run's file in its place
    (root / BUNDLE_FILE).write_text(json.dumps(evidence.raw, indent=2) + "\n")
    saved[BUNDLE_FILE] = root / BUNDLE_FILE
    fetch = {
        ATTESTATION_FILE: lambda: client.get_attestation_bytes(run_id),
        EVENTS_FILE: lambda: client.get_events_ndjson(run_id),
        KEYS_FILE: lambda: (json.dumps(client.get_evidence_keys(), indent=2) + "\n").encode(),
    }
    if (evidence.raw.get("network") or {}).get("mode", "none") != "none":
        fetch[NETWORK_FILE] = lambda: client.get_network_ndjson(run_id)
    for name, get in fetch.items():
        try:
            data = get()
        except ApiError as exc:
            if exc.status != 404:
                raise
            (root / name).unlink(missing_ok=True)
            continue
        (root / name).write_bytes(data)
        saved[name] = root / name
    return saved
