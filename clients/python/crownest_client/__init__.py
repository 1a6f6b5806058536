"""CrowNest Workspace Runs: Python SDK (`Client`, `run_archive`) and the `crownest` CLI."""

from .client import Client
from .errors import (
    ApiError,
    ArchiveRejected,
    ArchiveRequired,
    ArchiveTooLarge,
    CrownestError,
    EvidenceNotReady,
    InvalidRequest,
    InvalidState,
    NotAuthenticated,
    NotFound,
    ServiceUnavailable,
    StreamError,
    Throttled,
    TransferConflict,
)
from .models import Artifact, Event, EventPage, Evidence, Run, RunPage, Template, Transfer
from .oneshot import RunResult, follow, run_archive
from .packing import PackError, file_digest, pack_bytes, pack_directory

__all__ = [
    "ApiError",
    "ArchiveRejected",
    "ArchiveRequired",
    "ArchiveTooLarge",
    "Artifact",
    "Client",
    "CrownestError",
    "Event",
    "EventPage",
    "Evidence",
    "EvidenceNotReady",
    "InvalidRequest",
    "InvalidState",
    "NotAuthenticated",
    "NotFound",
    "PackError",
    "Run",
    "RunPage",
    "RunResult",
    "ServiceUnavailable",
    "StreamError",
    "Template",
    "Throttled",
    "Transfer",
    "TransferConflict",
    "file_digest",
    "follow",
    "pack_bytes",
    "pack_directory",
    "run_archive",
]
