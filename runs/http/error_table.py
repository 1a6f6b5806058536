"""The API's error table: every error code a client can get, with its HTTP status, what it
means (the schema's description of it: runs/http/schema.py `errors()`), and the domain errors
(runs/errors.py) answered with it. The one place that maps a domain error to HTTP."""

from dataclasses import dataclass

from .. import errors as e


@dataclass
class ApiError:
    """One row: the status and code a client gets, what the code means (the schema says this),
    and the domain errors answered with it (none: DRF or authentication answers it)."""

    status: int
    code: str
    when: str
    raised_by: tuple[type, ...] = ()


# Apps built on runs add their own rows or classes (runs/http/public.py `error_add`).
TABLE: list[ApiError] = [
    ApiError(
        400,
        "invalid_request",
        "a body field, query parameter or header breaks a rule; details.fields names each one",
        (e.InvalidRequest,),
    ),
    ApiError(401, "not_authenticated", "no token or session, or a revoked one"),
    ApiError(403, "forbidden", "you may see this run but not do this to it", (e.Forbidden,)),
    ApiError(404, "not_found", "no such id, or not visible to you (never 403)", (e.NotFound,)),
    ApiError(405, "method_not_allowed", "this URL does not take this method (Allow lists them)"),
    ApiError(406, "not_acceptable", "this operation answers only in its documented media type"),
    ApiError(
        409,
        "invalid_state",
        "the action does not fit the current status (details.status, .allowed)",
        (e.InvalidState, e.TemplateNotReady, e.NetworkUnavailable),
    ),
    ApiError(409, "archive_required", "the run has no verified archive yet", (e.ArchiveRequired,)),
    # The evidence app adds its EvidenceNotReady to this row (evidence/apps.py).
    ApiError(
        409,
        "evidence_not_ready",
        "the run has not ended, or its evidence is still being written",
        (e.NetworkLogNotReady,),
    ),
    ApiError(
        409,
        "transfer_offset_mismatch",
        "the chunk does not continue at details.receivedBytes",
        (e.TransferOffsetMismatch,),
    ),
    ApiError(
        409,
        "transfer_incomplete",
        "not every byte has arrived (details.receivedBytes, .sizeBytes)",
        (e.TransferIncomplete,),
    ),
    ApiError(
        410,
        "artifact_expired",
        "retention removed the artifact's bytes (its metadata and the evidence remain)",
        (e.ArtifactExpired,),
    ),
    ApiError(
        413,
        "archive_too_large",
        "over the limit (details.limitBytes; .useStagedTransfer for direct)",
        (e.ArchiveTooLarge,),
    ),
    ApiError(415, "unsupported_archive", "not a gzip-compressed tar", (e.UnsupportedArchive,)),
    ApiError(
        415, "unsupported_media_type", "the body's Content-Type is not one this operation reads"
    ),
    ApiError(
        422,
        "archive_digest_mismatch",
        "the bytes' sha256 differs from the declared one",
        (e.ArchiveDigestMismatch,),
    ),
    ApiError(
        422,
        "archive_size_mismatch",
        "the byte count differs from the declared sizeBytes",
        (e.ArchiveSizeMismatch,),
    ),
    ApiError(
        422,
        "archive_unsafe",
        "a member breaks a rule (details.member, .rule)",
        (e.ArchiveUnsafe,),
    ),
    ApiError(
        429,
        "throttled",
        "too many requests (or bad tokens, active runs, runs awaiting their archive); wait "
        "Retry-After seconds",
        (e.Throttled,),
    ),
    ApiError(
        429,
        "quota_exceeded",
        "a team's or user's run minutes or stored bytes are used up (details.quota, .scope, "
        ".name, .used, .limit, .resetsAt); wait Retry-After seconds or free space",
        (e.QuotaExceeded,),
    ),
    ApiError(
        503,
        "storage_unavailable",
        "archive storage refused; retry the same request",
        (e.StorageUnavailable,),
    ),
]


def api_error(code: str) -> ApiError:
    for row in TABLE:
        if row.code == code:
            return row
    raise KeyError(code)


def status_and_code(exc: e.DomainError) -> tuple[int, str]:
    """The row of the most specific class of `exc` that the table names (its MRO, in order)."""
    for cls in type(exc).__mro__:
        for row in TABLE:
            if cls in row.raised_by:
                return row.status, row.code
    return 400, "bad_request"


def error_add(cls: type, *, status: int, code: str, when: str) -> None:
    """A domain error of another app joins the table: a new row, or one more class of a code
    that is already in it (with the same status; the row's words stay)."""
    for row in TABLE:
        if row.code == code:
            assert row.status == status, f"{code} is already answered with {row.status}"
            row.raised_by += (cls,)
            return
    TABLE.append(ApiError(status, code, when, (cls,)))
