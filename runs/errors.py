"""Domain errors: what went wrong, in words and details, with no HTTP in them.

Services, the archive checks and the worker raise these; the API layer alone maps each class to
a status code and an error code (runs/http/errors.py). Pure Python, no Django."""


class DomainError(Exception):
    """Base of every error a client may be told about: a sentence and structured details."""

    def __init__(self, message: str, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})


class InvalidRequest(DomainError):
    """The request does not fit a rule; details["fields"] names the fields."""

    @classmethod
    def field(cls, name: str, problem: str, message: str = "") -> "InvalidRequest":
        return cls(message or f"{name} {problem}.", {"fields": {name: [problem]}})


class NotFound(DomainError):
    def __init__(self, what: str = "run", message: str = "", details: dict | None = None):
        super().__init__(
            message
            or f"No {what} with this id is visible to you; check the id, or sign in as its owner.",
            {"resource": what, **(details or {})},
        )


class Forbidden(DomainError):
    pass


# What a status means, said of a run or a transfer ("it has already succeeded").
STATE_PHRASES = {
    ("run", "awaiting_archive"): "is still waiting for its archive",
    ("run", "ready"): "already has its verified archive",
    ("run", "queued"): "is already queued to start",
    ("run", "running"): "is already running",
    ("run", "succeeded"): "has already succeeded",
    ("run", "failed"): "has already failed",
    ("run", "canceled"): "was canceled",
    ("transfer", "open"): "is still open",
    ("transfer", "completed"): "is already complete (the run has its archive)",
    ("transfer", "aborted"): "was aborted and its data deleted",
    ("transfer", "failed"): "failed its checks and its data was deleted",
    ("transfer", "expired"): "expired and its data was deleted",
}
ENDED = ("succeeded", "failed", "canceled")
NEW_TRANSFER = (
    "Start a new transfer (POST .../workspace-runs/{id}/transfers) and send the archive from "
    "byte 0."
)


def _next_step(what: str, action: str, status: str) -> str:
    """What to do instead, for the conflicts clients actually meet."""
    if what == "transfer":
        return "Nothing more needs sending." if status == "completed" else NEW_TRANSFER
    if action == "start":
        if status in ENDED:
            return "To run it again, POST .../rerun, which makes a new run of it."
        return "It needs no second start: follow it with GET .../events/stream."
    if action == "cancel":
        return "There is nothing left to stop."
    if action == "delete":
        kept = "its event log and Evidence Bundle are kept for good, so it is not deleted"
        if status in ENDED:
            return f"Once a run has ended, {kept}."
        return f"Once a run has started, {kept}; POST .../cancel stops it."
    if action == "upload an archive to":
        if status == "ready":
            return "It needs no other archive: start it (POST .../start)."
        return "An archive is only taken before a run starts: create a new run for another one."
    return ""


class InvalidState(DomainError):
    """The action does not fit the current status of a run or transfer."""

    def __init__(self, status: str, allowed: list[str], *, what: str = "run", action: str = ""):
        doing = action or ("use" if what == "transfer" else "do this to")
        state = STATE_PHRASES.get((what, status), f"is {status}")
        allowed_text = " or ".join(allowed) or "no status"
        step = _next_step(what, action, status) or (
            f"That is only possible while it is {allowed_text}."
        )
        super().__init__(
            f"Cannot {doing} this {what}: it {state}. {step}",
            {"status": status, "allowed": list(allowed)},
        )
        self.status = status
        self.allowed = list(allowed)


class ArchiveRequired(DomainError):
    pass


class ArtifactExpired(DomainError):
    """The artifact's bytes were removed by retention; its metadata (and evidence) remain."""


class Throttled(DomainError):
    def __init__(self, message: str, details: dict | None = None, retry_after: int = 1):
        super().__init__(message, {"retryAfterSeconds": retry_after, **(details or {})})
        self.retry_after = retry_after


class QuotaExceeded(DomainError):
    """A team's or user's run minutes or stored bytes are used up (runs/scheduling/quotas.py):
    details name the quota, the scope, what is used, the limit and when it resets."""

    def __init__(self, message: str, details: dict, retry_after: int):
        super().__init__(message, details)
        self.retry_after = retry_after


class StorageUnavailable(DomainError):
    pass


class TransferOffsetMismatch(DomainError):
    pass


class TransferIncomplete(DomainError):
    pass


class ArchiveError(DomainError):
    """Base of the archive refusals; each subclass is one error code of the contract."""


class ArchiveTooLarge(ArchiveError):
    pass


class UnsupportedArchive(ArchiveError):
    pass


class ArchiveUnsafe(ArchiveError):
    pass


class ArchiveDigestMismatch(ArchiveError):
    pass


class ArchiveSizeMismatch(ArchiveError):
    pass


class NetworkUnavailable(DomainError):
    """A network mode this run cannot have (egress off, nothing recorded to replay, a recording
    that expired): 409 invalid_state."""


class NetworkLogNotReady(DomainError):
    """The network log export asked for before the run ended: 409 evidence_not_ready (the log
    is part of the run's evidence)."""


class TemplateNotReady(DomainError):
    """A template (or the version a rerun pins) that cannot take new runs now: 409 invalid_state."""
