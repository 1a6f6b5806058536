"""Typed errors: every API error body `{"error": {code, message, details}}` becomes one."""

from __future__ import annotations

import httpx


class CrownestError(Exception):
    """Base of everything this package raises on purpose."""


class ApiError(CrownestError):
    def __init__(self, status: int, code: str, message: str, details: dict | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


class InvalidRequest(ApiError):
    pass


class NotAuthenticated(ApiError):
    pass


class NotFound(ApiError):
    pass


class InvalidState(ApiError):
    pass


class ArchiveRequired(ApiError):
    pass


class EvidenceNotReady(ApiError):
    pass


class Throttled(ApiError):
    pass


class QuotaExceeded(ApiError):
    """A user's or team's run minutes or stored bytes are used up: `details` has quota, scope,
    name, used, limit and resetsAt; `retry_after` the seconds to wait (or free space first)."""


class ArchiveRejected(ApiError):
    """The archive itself was refused (size, type, digest, unsafe member)."""


class ArchiveTooLarge(ArchiveRejected):
    @property
    def use_staged_transfer(self) -> bool:
        return bool(self.details.get("useStagedTransfer"))


class TransferConflict(ApiError):
    """A chunk did not continue at the server's offset; `received_bytes` says where to go on."""

    @property
    def received_bytes(self) -> int:
        return int(self.details["receivedBytes"])


class EvidenceDigestMismatch(CrownestError):
    """The Evidence Bundle's canonical bytes do not hash to the X-Evidence-Sha256 it came with."""


class StreamError(CrownestError):
    """The event stream could not be resumed within the retry budget."""


class ServiceUnavailable(ApiError):
    pass


class Forbidden(ApiError):
    """You may see the run but not do this to it (a review by someone who is not a lead)."""


class RunNotStarted(CrownestError):
    """`run_archive` created a run but could not upload its archive or start it (`cause` says
    why). The run was canceled then (`canceled`), so nothing is left waiting; if canceling
    failed too (`cancel_error`), the run still waits for its archive."""

    def __init__(
        self, run_id: str, cause: BaseException, *, canceled: bool, cancel_error=None
    ) -> None:
        outcome = "it was canceled" if canceled else f"canceling it failed too ({cancel_error})"
        super().__init__(f"run {run_id} could not start ({cause}); {outcome}")
        self.run_id = run_id
        self.cause = cause
        self.canceled = canceled
        self.cancel_error = cancel_error


BY_CODE: dict[str, type[ApiError]] = {
    "invalid_request": InvalidRequest,
    "not_authenticated": NotAuthenticated,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "invalid_state": InvalidState,
    "archive_required": ArchiveRequired,
    "evidence_not_ready": EvidenceNotReady,
    "throttled": Throttled,
    "quota_exceeded": QuotaExceeded,
    "archive_too_large": ArchiveTooLarge,
    "unsupported_archive": ArchiveRejected,
    "archive_digest_mismatch": ArchiveRejected,
    "archive_size_mismatch": ArchiveRejected,
    "archive_unsafe": ArchiveRejected,
    "transfer_offset_mismatch": TransferConflict,
}


def error_from_response(resp: httpx.Response) -> ApiError:
    try:
        body = resp.json()["error"]
        code, message, details = body["code"], body.get("message", ""), body.get("details") or {}
    except Exception:  # not our error shape (a proxy, a crash page): keep the status
        code, message, details = f"http_{resp.status_code}", resp.text[:500], {}
    cls = BY_CODE.get(code)
    if cls is None and resp.status_code == 409 and "receivedBytes" in details:
        cls = TransferConflict
    if cls is None:
        cls = ServiceUnavailable if resp.status_code >= 500 else ApiError
    err = cls(resp.status_code, code, message, details)
    err.retry_after = resp.headers.get("Retry-After")
    return err
