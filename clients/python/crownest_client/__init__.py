"""CrowNest Workspace Runs: Python SDK (`Client`, `run_archive`, offline `verify_folder`) and the
`crownest` CLI."""

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
from .oneshot import RunResult, follow, run_archive, save_evidence
from .packing import PackError, file_digest, pack_bytes, pack_directory
from .verify import (
    Failure,
    TrustedKey,
    Verdict,
    load_key_file,
    verify_evidence,
    verify_folder,
)

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
    "Failure",
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
    "TrustedKey",
    "Verdict",
    "file_digest",
    "follow",
    "load_key_file",
    "pack_bytes",
    "pack_directory",
    "run_archive",
    "save_evidence",
    "verify_evidence",
    "verify_folder",
]
