"""Dataclasses for the API's objects. Each keeps the whole JSON in `raw`, so fields that the
server adds later stay reachable without a new release of this package."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TERMINAL = ("succeeded", "failed", "canceled")


@dataclass
class Archive:
    size_bytes: int | None = None
    sha256: str | None = None
    filename: str | None = None
    upload_method: str | None = None
    verified_at: str | None = None

    @classmethod
    def from_json(cls, d: dict | None) -> Archive:
        d = d or {}
        return cls(
            d.get("sizeBytes"),
            d.get("sha256"),
            d.get("filename"),
            d.get("uploadMethod"),
            d.get("verifiedAt"),
        )


@dataclass
class Run:
    id: str
    status: str
    template: str
    command: str | list[str]
    archive: Archive
    artifact_paths: list[str]
    timeout_seconds: int | None
    keep_sandbox: bool
    env: dict[str, str]
    owner: Any
    team: Any
    exit_code: int | None
    failure_reason: str | None
    created_at: str | None
    queued_at: str | None
    started_at: str | None
    finished_at: str | None
    last_seq: int
    artifact_ids: list[str]
    evidence_available: bool
    sandbox: dict
    links: dict
    raw: dict = field(repr=False)
    rerun_of: str | None = None  # the run this one re-runs
    resources: dict = field(default_factory=dict)  # {cpus, memoryMiB, diskMiB} it got
    queue: dict | None = None  # {position, reason} while queued

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def from_json(cls, d: dict) -> Run:
        return cls(
            id=d["id"],
            status=d["status"],
            template=d.get("template"),
            command=d.get("command"),
            archive=Archive.from_json(d.get("archive")),
            artifact_paths=d.get("artifactPaths") or [],
            timeout_seconds=d.get("timeoutSeconds"),
            keep_sandbox=bool(d.get("keepSandbox")),
            env=d.get("env") or {},
            owner=d.get("owner"),
            team=d.get("team"),
            exit_code=d.get("exitCode"),
            failure_reason=d.get("failureReason"),
            created_at=d.get("createdAt"),
            queued_at=d.get("queuedAt"),
            started_at=d.get("startedAt"),
            finished_at=d.get("finishedAt"),
            last_seq=d.get("lastSeq") or 0,
            artifact_ids=d.get("artifactIds") or [],
            evidence_available=bool(d.get("evidenceAvailable")),
            sandbox=d.get("sandbox") or {},
            links=d.get("links") or {},
            raw=d,
            rerun_of=d.get("rerunOf"),
            resources=d.get("resources") or {},
            queue=d.get("queue"),
        )


@dataclass
class RunPage:
    count: int
    page: int
    results: list[Run]
    next: str | None
    previous: str | None

    @classmethod
    def from_json(cls, d: dict) -> RunPage:
        return cls(
            d.get("count", 0),
            d.get("page", 1),
            [Run.from_json(r) for r in d.get("results", [])],
            d.get("next"),
            d.get("previous"),
        )


@dataclass
class Event:
    seq: int
    type: str
    timestamp: str
    data: dict

    @classmethod
    def from_json(cls, d: dict) -> Event:
        return cls(d["seq"], d["type"], d.get("timestamp"), d.get("data") or {})

    def to_json(self) -> dict:
        return {"seq": self.seq, "type": self.type, "timestamp": self.timestamp, "data": self.data}


@dataclass
class EventPage:
    events: list[Event]
    next_after_seq: int
    has_more: bool
    terminal: bool

    @classmethod
    def from_json(cls, d: dict) -> EventPage:
        return cls(
            [Event.from_json(e) for e in d["events"]],
            d["nextAfterSeq"],
            bool(d.get("hasMore")),
            bool(d.get("terminal")),
        )


@dataclass
class Artifact:
    id: str
    run_id: str
    path: str
    size_bytes: int
    sha256: str
    content_type: str | None
    created_at: str | None
    download_url: str | None

    @classmethod
    def from_json(cls, d: dict) -> Artifact:
        return cls(
            d["id"],
            d.get("runId"),
            d["path"],
            d.get("sizeBytes", 0),
            d.get("sha256"),
            d.get("contentType"),
            d.get("createdAt"),
            d.get("downloadUrl"),
        )


@dataclass
class Transfer:
    id: str
    run_id: str
    upload_url: str
    chunk_size_bytes: int
    received_bytes: int
    size_bytes: int
    status: str
    expires_at: str | None
    mode: str  # "chunked" (PUT chunks to upload_url) or "presigned" (parts straight to storage)
    raw: dict = field(repr=False)

    @classmethod
    def from_json(cls, d: dict) -> Transfer:
        return cls(
            d["id"],
            d.get("runId"),
            d.get("uploadUrl"),
            d.get("chunkSizeBytes") or 0,
            d.get("receivedBytes") or 0,
            d.get("sizeBytes") or 0,
            d.get("status"),
            d.get("expiresAt"),
            d.get("mode") or "chunked",
            d,
        )


@dataclass
class Evidence:
    run_id: str
    status: str
    exit_code: int | None
    failure_reason: str | None
    events: dict
    artifacts: list[dict]
    raw: dict = field(repr=False)
    sha256: str | None = None  # X-Evidence-Sha256 as served, checked against the bundle's bytes

    @classmethod
    def from_json(cls, d: dict, sha256: str | None = None) -> Evidence:
        return cls(
            d["runId"],
            d["status"],
            d.get("exitCode"),
            d.get("failureReason"),
            d.get("events") or {},
            d.get("artifacts") or [],
            d,
            sha256,
        )


@dataclass
class Template:
    name: str
    description: str
    image: str | None
    image_digest: str | None
    raw: dict = field(repr=False)

    @classmethod
    def from_json(cls, d: dict) -> Template:
        return cls(d["name"], d.get("description", ""), d.get("image"), d.get("imageDigest"), d)

    @property
    def status(self) -> str:
        """building, ready, failed or retired; only a ready template takes new runs."""
        return self.raw.get("status", "ready")
