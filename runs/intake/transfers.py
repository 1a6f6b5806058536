"""Staged transfer: a run's archive sent in resumable chunks, then verified in one read pass.

Every change to a transfer happens under its row lock (select_for_update), so two PUTs of the
same chunk, a PUT racing an abort, or a PUT racing complete run one after the other: the second
sees what the first did instead of writing into a file or upload that is being taken away."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import lifecycle
from ..errors import (
    DomainError,
    InvalidRequest,
    InvalidState,
    StorageUnavailable,
    TransferIncomplete,
    TransferOffsetMismatch,
)
from ..models import Run, Transfer
from ..scheduling import quotas
from ..stream.progress import ArchiveProgress
from . import archives, presigned
from .stores import StoreError, store_for_default
from .upload import archive_ready, archive_verify

T = Transfer.Status


def _bad_range(message: str, **details) -> InvalidRequest:
    return InvalidRequest(message, {"header": "Content-Range", **details})


def _offset_mismatch(transfer: Transfer) -> TransferOffsetMismatch:
    return TransferOffsetMismatch(
        f"The next chunk must start at byte {transfer.received_bytes}; resume from there "
        "(GET the transfer for receivedBytes).",
        {"receivedBytes": transfer.received_bytes},
    )


def storage_error(exc: StoreError) -> StorageUnavailable:
    return StorageUnavailable(
        "Archive storage is unavailable right now; retry the same request in a moment.",
        {"reason": str(exc)[:200]},
    )


def is_expired(transfer: Transfer) -> bool:
    return transfer.status == T.OPEN and transfer.expires_at <= timezone.now()


def public_status(transfer: Transfer) -> str:
    # Between expiry and the next sweep the row still says open; clients see the truth.
    return T.EXPIRED if is_expired(transfer) else transfer.status


def require_open(transfer: Transfer) -> None:
    status = public_status(transfer)
    if status != T.OPEN:
        raise InvalidState(status, [T.OPEN], what="transfer")


def _locked(transfer: Transfer) -> Transfer:
    return Transfer.objects.select_for_update().select_related("run").get(pk=transfer.pk)


def transfer_create(*, run: Run, mode: str | None = None) -> Transfer:
    """A new transfer; `mode` is the client's wish ("chunked" is always granted, "presigned"
    only with object storage), presigned.offered decides."""
    lifecycle.require(run, Run.Status.READY)
    quotas.archive_check(run=run)
    store = store_for_default()
    mode = presigned.offered(store, mode)
    if mode == Transfer.Mode.PRESIGNED:
        chunk = presigned.part_size(run.archive_size_bytes)
    else:
        chunk = max(settings.CROWNEST_TRANSFER_CHUNK, store.min_part)
    transfer = Transfer(
        run=run,
        mode=mode,
        size_bytes=run.archive_size_bytes,
        chunk_size_bytes=chunk,
        expires_at=timezone.now() + timedelta(seconds=settings.CROWNEST_TRANSFER_TTL_SECONDS),
    )
    try:
        store.begin(transfer)
    except StoreError as exc:
        raise storage_error(exc) from exc
    transfer.save()
    return transfer


def _exactly(chunks, expected: int):
    """The body's pieces, refusing one byte more than the range announced (or one fewer)."""
    got = 0
    for piece in chunks:
        got += len(piece)
        if got > expected:
            raise _bad_range("The body is longer than the Content-Range.", expectedBytes=expected)
        yield piece
    if got != expected:
        raise _bad_range(
            "The body is shorter than the Content-Range.", expectedBytes=expected, gotBytes=got
        )


def _check_range(transfer, start, end, total, content_length) -> int:
    length = end - start + 1
    chunk = transfer.chunk_size_bytes
    if total != transfer.size_bytes:
        raise _bad_range(
            "Content-Range TOTAL must be the run's declared archive size.",
            sizeBytes=transfer.size_bytes,
        )
    if end >= total:
        raise _bad_range("Content-Range END must be below TOTAL.", sizeBytes=total)
    if length > chunk:
        raise _bad_range("The chunk is larger than chunkSizeBytes.", chunkSizeBytes=chunk)
    if end != total - 1 and length != chunk:
        # S3 multipart parts but the last must be >= 5 MiB; one rule for every backend.
        raise _bad_range(
            "Every chunk but the last must be exactly chunkSizeBytes.", chunkSizeBytes=chunk
        )
    if content_length is not None and content_length != length:
        raise _bad_range(
            "Content-Length does not match the Content-Range.",
            expectedBytes=length,
            contentLength=content_length,
        )
    return length


def transfer_put_chunk(
    *, transfer: Transfer, start: int, end: int, total: int, chunks, content_length=None
) -> Transfer:
    if transfer.mode == Transfer.Mode.PRESIGNED:
        raise InvalidRequest(
            "This transfer is presigned: PUT each part to its own url (GET .../parts?from=N).",
            {"mode": transfer.mode},
        )
    length = _check_range(transfer, start, end, total, content_length)
    store = store_for_default()
    with transaction.atomic():
        locked = _locked(transfer)
        require_open(locked)
        if start != locked.received_bytes:
            # Only a resend of a chunk already received, byte for byte, is harmless.
            part = next((p for p in locked.parts if (p["start"], p["end"]) == (start, end)), None)
            if part is None:
                raise _offset_mismatch(locked)
            if not store.same(locked, part, _exactly(chunks, length)):
                raise _offset_mismatch(locked)
            return locked
        number = start // locked.chunk_size_bytes + 1
        try:
            meta = store.write(locked, number, start, _exactly(chunks, length))
        except StoreError as exc:
            raise storage_error(exc) from exc
        before = locked.received_bytes
        locked.parts = [*locked.parts, {"n": number, "start": start, "end": end, **meta}]
        locked.received_bytes = end + 1
        locked.save(update_fields=["parts", "received_bytes", "updated_at"])
        progress = ArchiveProgress(locked.run_id, "upload", locked.size_bytes, done=before)
        progress(locked.received_bytes, force=locked.received_bytes == locked.size_bytes)
    return locked


def _verify(transfer: Transfer, store, run: Run) -> archives.ArchiveInfo:
    with store.open_stream(transfer) as fh:
        return archive_verify(run=run, fileobj=fh, total=transfer.size_bytes)


def transfer_complete(*, transfer: Transfer, parts: list[dict] | None = None) -> Run:
    """Verify the received archive and make it the run's. `parts` is the client's part list of
    a presigned transfer: checked against storage first, a refusal there keeps the parts."""
    store = store_for_default()
    with transaction.atomic():
        locked = _locked(transfer)
        require_open(locked)
        quotas.archive_check(run=locked.run)  # refused: the transfer stays open, its parts kept
        if locked.mode == Transfer.Mode.PRESIGNED:
            try:
                presigned.reconcile(store=store, transfer=locked, given=parts)
            except StoreError as exc:
                raise storage_error(exc) from exc
        if locked.received_bytes != locked.size_bytes:
            raise TransferIncomplete(
                f"Only {locked.received_bytes} of {locked.size_bytes} bytes have arrived; send "
                "the rest from receivedBytes, then complete the transfer again.",
                {"receivedBytes": locked.received_bytes, "sizeBytes": locked.size_bytes},
            )
        run = locked.run
        try:
            lifecycle.require(run, Run.Status.READY)
            store.assemble(locked)
            info = _verify(locked, store, run)
            stored = store.finish(locked)
            run = archive_ready(run=run, stored=stored, method="staged", info=info)
        except (DomainError, StoreError) as exc:
            failure = exc
            locked.status = T.FAILED
            locked.save(update_fields=["status", "s3_upload_id", "updated_at"])
        else:
            locked.status, locked.temp_name = T.COMPLETED, ""
            fields = ["status", "temp_name", "s3_upload_id", "parts", "received_bytes"]
            locked.save(update_fields=[*fields, "updated_at"])
            return run
    _discard(locked)
    if isinstance(failure, StoreError):
        raise storage_error(failure) from failure
    raise failure


def _discard(transfer: Transfer) -> None:
    """Delete the temporary data of a closed transfer; the sweep retries whatever fails here."""
    try:
        store_for_default().discard(transfer)
    except (OSError, StoreError):
        return
    Transfer.objects.filter(pk=transfer.pk).exclude(status=T.OPEN).update(
        temp_name="", s3_upload_id=""
    )


def transfer_abort(*, transfer: Transfer) -> None:
    with transaction.atomic():
        locked = _locked(transfer)
        if locked.status == T.COMPLETED:
            require_open(locked)
        if locked.status == T.OPEN:
            locked.status = T.ABORTED
            locked.save(update_fields=["status", "updated_at"])
    _discard(locked)


def transfer_sweep() -> dict:
    """Expire open transfers past expires_at and delete the data of every closed one."""
    expired = 0
    stale = Transfer.objects.filter(status=T.OPEN, expires_at__lte=timezone.now())
    for pk in stale.values_list("pk", flat=True):
        with transaction.atomic():
            # skip_locked: a transfer busy with a chunk is not taken away mid-write.
            row = (
                Transfer.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, status=T.OPEN, expires_at__lte=timezone.now())
                .first()
            )
            if row is not None:
                row.status = T.EXPIRED
                row.save(update_fields=["status", "updated_at"])
                expired += 1
    closed = Transfer.objects.filter(status__in=[T.ABORTED, T.FAILED, T.EXPIRED])
    leftovers = list(closed.exclude(temp_name="", s3_upload_id=""))
    for transfer in leftovers:
        _discard(transfer)
    return {"expired": expired, "discarded": len(leftovers)}
