"""A run's archive arriving whole (direct upload), and the steps every arrival ends with:
verify the declared size and sha256 and check every member (`archive_verify`, one pass), store
it, mark the run ready."""

import hashlib
import os
import tempfile

from django.conf import settings
from django.core.files import File
from django.utils import timezone

from ops import metrics

from .. import lifecycle
from ..blobs import storage, temp_dir
from ..errors import ArchiveTooLarge
from ..models import Run
from ..scheduling import quotas
from ..stream.progress import ArchiveProgress
from . import archives
from .stores import READ_SIZE, archive_name

S = Run.Status


def archive_limits() -> archives.ArchiveLimits:
    return archives.ArchiveLimits(
        max_members=settings.CROWNEST_ARCHIVE_MAX_MEMBERS,
        max_expanded_bytes=settings.CROWNEST_ARCHIVE_MAX_EXPANDED,
        max_path_length=settings.CROWNEST_ARCHIVE_MAX_PATH,
    )


def _direct_limit_error(size: int) -> ArchiveTooLarge:
    limit = settings.CROWNEST_DIRECT_UPLOAD_LIMIT
    return ArchiveTooLarge(
        f"The archive ({size} bytes) is over the direct-upload limit of {limit} bytes; "
        "send it as a staged transfer (POST .../transfers).",
        {"limitBytes": limit, "sizeBytes": size, "useStagedTransfer": True},
    )


def archive_upload(*, run: Run, chunks, content_length: int | None = None) -> Run:
    """Direct upload: stream the body to a temp file while hashing, verify, check every member,
    then store it and mark the run ready. Any failure leaves the run awaiting_archive."""
    lifecycle.require(run, S.READY)
    quotas.archive_check(run=run)
    limit = settings.CROWNEST_DIRECT_UPLOAD_LIMIT
    for size in (run.archive_size_bytes, content_length or 0):
        if size > limit:
            raise _direct_limit_error(size)
    fd, tmp_path = tempfile.mkstemp(dir=temp_dir(), suffix=".tar.gz")
    try:
        progress = ArchiveProgress(run.id, "upload", run.archive_size_bytes)
        with os.fdopen(fd, "wb") as out:
            try:
                received = archives.receive_stream(
                    chunks, out, max_bytes=limit, on_progress=progress
                )
            except ArchiveTooLarge as exc:
                raise _direct_limit_error(run.archive_size_bytes) from exc
        progress(received.size_bytes, force=True)
        return archive_accept(run=run, path=tmp_path, method="direct")
    finally:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)


def archive_accept(*, run: Run, path: str, method: str) -> Run:
    """Verify a fully received archive file and make it the run's."""
    with open(path, "rb") as fh:
        info = archive_verify(run=run, fileobj=fh, total=os.path.getsize(path))
    name = archive_name(run.id)
    with open(path, "rb") as fh:
        stored = storage().save(name, File(fh, name=os.path.basename(name)))
    return archive_ready(run=run, stored=stored, method=method, info=info)


class _Tee:
    """Hashes and counts the bytes while inspect_archive reads them: one read pass."""

    def __init__(self, fileobj):
        self.fileobj, self.digest, self.size = fileobj, hashlib.sha256(), 0

    def read(self, size: int = READ_SIZE) -> bytes:
        data = self.fileobj.read(size if size and size > 0 else READ_SIZE)
        self.digest.update(data)
        self.size += len(data)
        return data


def archive_verify(*, run: Run, fileobj, total: int) -> archives.ArchiveInfo:
    """The one verification of every arrival (direct upload, staged transfer, presigned parts):
    in one read pass, the sha256 and size of the bytes and every member's header checked. A
    wrong size or digest is the answer even when the members are bad too."""
    verify = ArchiveProgress(run.id, "verify", total, steps=4)
    problem = info = None
    tee = _Tee(fileobj)
    try:
        info = archives.inspect_archive(
            tee, limits=archive_limits(), on_progress=lambda members, done: verify(done, members)
        )
    except archives.ArchiveError as exc:
        problem = exc
    while tee.read(READ_SIZE):  # the hash covers every byte, also after a refusal
        pass
    received = archives.ReceivedFile(size_bytes=tee.size, sha256=tee.digest.hexdigest())
    archives.check_declared(received, size_bytes=run.archive_size_bytes, sha256=run.archive_sha256)
    if problem is not None:
        raise problem
    verify(total, info.file_count, force=True)
    return info


def archive_ready(*, run: Run, stored: str, method: str, info: archives.ArchiveInfo) -> Run:
    """Make a stored, verified archive the run's; if the run moved on meanwhile, drop it."""
    moved = lifecycle.transition(
        run.id,
        S.READY,
        archive_file=stored,
        archive_upload_method=method,
        archive_verified_at=timezone.now(),
        archive_file_count=info.file_count,
        archive_expanded_bytes=info.expanded_bytes,
    )
    if not moved:
        storage().delete(stored)
        run.refresh_from_db()
        raise lifecycle.invalid(run.status, S.READY)
    metrics.archive_received(method, run.archive_size_bytes)
    run.refresh_from_db()
    return run
