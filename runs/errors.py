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


class InvalidState(DomainError):
    """The action does not fit the current status of a run or transfer."""

    def __init__(self, status: str, allowed: list[str], *, what: str = "run", action: str = ""):
        doing = f"{action} " if action else ""
        allowed_text = ", ".join(allowed) or "no status"
        super().__init__(
            f"Cannot {doing or 'do this to '}this {what}: it is {status}; "
            f"this is only possible while it is {allowed_text}.",
            {"status": status, "allowed": list(allowed)},
        )
        self.status = status
        self.allowed = list(allowed)


class ArchiveRequired(DomainError):
    pass


class EvidenceNotReady(DomainError):
    pass


class Throttled(DomainError):
    def __init__(self, message: str, details: dict | None = None, retry_after: int = 1):
        super().__init__(message, {"retryAfterSeconds": retry_after, **(details or {})})
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
