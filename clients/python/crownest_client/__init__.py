"""CrowNest Workspace Runs: Python SDK (`Client`, `run_archive`, offline `verify_folder`) and the
`crownest` CLI."""

from .canonical import canonical, evidence_sha256
from .client import Client
from .errors import (
    ApiError,
    ArchiveRejected,
    ArchiveRequired,
    ArchiveTooLarge,
    CrownestError,
    EvidenceDigestMismatch,
    EvidenceNotReady,
    Forbidden,
    InvalidRequest,
    InvalidState,
    NotAuthenticated,
    NotFound,
    QuotaExceeded,
    RunNotStarted,
    ServiceUnavailable,
    StreamError,
    Throttled,
    TransferConflict,
)
from .models import Artifact, Event, EventPage, Evidence, Run, RunPage, Template, Transfer
from .oneshot import RunResult, follow, run_archive, save_evidence
from .packing import PackError, file_digest, pack_bytes, pack_directory

# The offline checks need `cryptography`; they are imported when first used, so that the CLI's
# run commands do not pay for them at start-up.
_VERIFY = {"Failure", "TrustedKey", "Verdict", "load_key_file", "verify_evidence", "verify_folder"}


def __getattr__(name: str):
    if name in _VERIFY:
        from . import verify

        return getattr(verify, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    "EvidenceDigestMismatch",
    "EvidenceNotReady",
    "Failure",
    "Forbidden",
    "InvalidRequest",
    "InvalidState",
    "NotAuthenticated",
    "NotFound",
    "PackError",
    "Run",
    "RunPage",
    "RunNotStarted",
    "RunResult",
    "ServiceUnavailable",
    "StreamError",
    "Template",
    "QuotaExceeded",
    "Throttled",
    "Transfer",
    "TransferConflict",
    "TrustedKey",
    "Verdict",
    "canonical",
    "evidence_sha256",
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
