"""Direct-to-storage transfers: the client PUTs each part of the S3 multipart upload to a
presigned URL, so archive bytes never pass through the web process.

The server keeps no record of the parts while they arrive (it sees none of those requests): S3's
ListParts is the truth, read when a client asks what is stored and when it completes. Complete
checks the client's part list against it before CompleteMultipartUpload; then the transfer goes
through the same one read pass (sha256 + tar checks) as a chunked one."""

from __future__ import annotations

import math

from django.conf import settings
from django.utils import timezone

from ..blobs import public_client
from ..errors import InvalidRequest, TransferIncomplete
from ..models import Transfer
from .stores import S3_MIN_PART, S3Store

S3_MAX_PARTS = 10_000
# A stored part list is read in pages of this many parts (S3's own maximum per ListParts).
LIST_PAGE = 1000
M = Transfer.Mode


def offered(store, requested: str | None) -> str:
    """The mode a new transfer gets: presigned when object storage can take parts directly and
    the client did not ask for chunked (a client that cannot reach the bucket asks for that)."""
    if requested == M.CHUNKED or not settings.CROWNEST_TRANSFER_PRESIGNED:
        return M.CHUNKED
    return M.PRESIGNED if isinstance(store, S3Store) else M.CHUNKED


def part_size(size_bytes: int) -> int:
    """The configured part size, raised so that no archive needs more than S3's 10,000 parts."""
    wanted = max(settings.CROWNEST_PRESIGNED_PART, S3_MIN_PART)
    return max(wanted, math.ceil(size_bytes / S3_MAX_PARTS))


def part_count(transfer: Transfer) -> int:
    return max(1, math.ceil(transfer.size_bytes / transfer.chunk_size_bytes))


def part_range(transfer: Transfer, number: int) -> tuple[int, int]:
    """The inclusive byte range of a part (numbered from 1)."""
    start = (number - 1) * transfer.chunk_size_bytes
    return start, min(start + transfer.chunk_size_bytes, transfer.size_bytes) - 1


def part_urls(*, store: S3Store, transfer: Transfer, first: int = 1) -> tuple[list, int | None]:
    """A page of part URLs from part `first` on, and where the next page starts (or None).

    The URLs expire with the transfer: a client that takes longer starts a new transfer."""
    count = part_count(transfer)
    if not 1 <= first <= count:
        raise InvalidRequest.field("from", f"must be between 1 and {count} (the part count)")
    last = min(count, first + settings.CROWNEST_PRESIGNED_PAGE - 1)
    seconds = max(1, int((transfer.expires_at - timezone.now()).total_seconds()))
    client = public_client(store.storage)
    key = store._key(transfer.temp_name)
    parts = []
    for number in range(first, last + 1):
        url = client.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": store.storage.bucket_name,
                "Key": key,
                "UploadId": transfer.s3_upload_id,
                "PartNumber": number,
            },
            ExpiresIn=seconds,
            HttpMethod="PUT",
        )
        start, end = part_range(transfer, number)
        parts.append({"partNumber": number, "url": url, "start": start, "end": end})
    return parts, (last + 1 if last < count else None)


def stored_parts(*, store: S3Store, transfer: Transfer) -> list[dict]:
    """The parts S3 holds for this upload: [{partNumber, sizeBytes, etag}], by number."""
    if not transfer.s3_upload_id:
        return []
    found, marker = [], 0
    while True:
        answer = store._call(
            "list_parts",
            Key=store._key(transfer.temp_name),
            UploadId=transfer.s3_upload_id,
            MaxParts=LIST_PAGE,
            PartNumberMarker=marker,
        )
        for part in answer.get("Parts", []):
            found.append(
                {"partNumber": part["PartNumber"], "sizeBytes": part["Size"], "etag": part["ETag"]}
            )
        if not answer.get("IsTruncated"):
            break
        marker = int(answer["NextPartNumberMarker"])
    return sorted(found, key=lambda p: p["partNumber"])


def received_bytes(parts: list[dict]) -> int:
    return sum(p["sizeBytes"] for p in parts)


def _unquoted(etag: str) -> str:
    return etag.strip().strip('"').lower()


def _check_numbers(transfer: Transfer, given: list[dict], count: int) -> None:
    numbers = [p["partNumber"] for p in given]
    if numbers != list(range(1, len(numbers) + 1)) or len(numbers) > count:
        raise InvalidRequest(
            f"parts must be numbered 1 to {count}, each once, in order.",
            {"fields": {"parts": [f"numbered 1..{count}, each once, in order"]}},
        )


def _missing(transfer: Transfer, stored: dict, count: int) -> TransferIncomplete | None:
    missing = [n for n in range(1, count + 1) if n not in stored]
    if not missing:
        return None
    return TransferIncomplete(
        f"{len(missing)} of {count} parts are not stored yet; PUT them to their URLs "
        "(GET .../parts?from=N), then complete the transfer again.",
        {
            "missingParts": missing[:100],
            "receivedBytes": received_bytes(list(stored.values())),
            "sizeBytes": transfer.size_bytes,
        },
    )


def reconcile(*, store: S3Store, transfer: Transfer, given: list[dict] | None) -> None:
    """Check the client's part list against what S3 holds, and record it on the transfer for
    CompleteMultipartUpload. Every refusal leaves the transfer open and its parts stored."""
    if given is None:
        raise InvalidRequest.field("parts", "is required for a presigned transfer")
    count = part_count(transfer)
    _check_numbers(transfer, given, count)
    stored = {p["partNumber"]: p for p in stored_parts(store=store, transfer=transfer)}
    problem = _missing(transfer, stored, count)
    if problem is not None:
        raise problem
    if len(given) != count:
        raise InvalidRequest.field("parts", f"must list all {count} parts")
    wrong = {}
    for part in given:
        number, held = part["partNumber"], stored[part["partNumber"]]
        start, end = part_range(transfer, number)
        if held["sizeBytes"] != end - start + 1:
            wrong[str(number)] = f"holds {held['sizeBytes']} bytes, not {end - start + 1}"
        elif _unquoted(held["etag"]) != _unquoted(part["etag"]):
            wrong[str(number)] = "the etag differs from the stored part's"
    if wrong:
        raise InvalidRequest(
            "Some parts differ from what storage holds; PUT them again and complete with "
            "their new ETags.",
            {"fields": {"parts": ["differ from the stored parts"]}, "parts": wrong},
        )
    transfer.parts = [{"n": n, "etag": stored[n]["etag"]} for n in range(1, count + 1)]
    transfer.received_bytes = transfer.size_bytes
