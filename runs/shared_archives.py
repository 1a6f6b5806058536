"""Stored archives shared between runs: one stored file (Run.archive_file) may be the archive
of many runs (archive reuse by sha256, re-run). A stored file is deleted only when no run
refers to it any more.

Reuse is scoped to what the caller may already see: runs they own, and runs filed under a
team they belong to now. Staff get no wider scope here: another user's archive is never
reused, and the answer never says whether one exists."""

import contextlib
import logging

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import lifecycle
from .blobs import storage
from .models import Membership, Run

log = logging.getLogger(__name__)
S = Run.Status
# Fields a run takes over from the run whose stored archive it shares.
SHARED_FIELDS = ("archive_file", "archive_file_count", "archive_expanded_bytes")
# How many candidate runs are looked at before giving up (each costs a storage lookup).
MAX_CANDIDATES = 3


def stored_archives():
    """Runs whose verified archive is still stored."""
    stored = Run.objects.filter(archive_verified_at__isnull=False, archive_expired_at__isnull=True)
    return stored.exclude(archive_file="")


def reuse_scope(user):
    """Runs whose archive `user` may reuse: their own and their teams' (current membership)."""
    teams = Membership.objects.filter(user=user).values_list("team_id", flat=True)
    return Q(owner=user) | Q(team_id__in=teams)


def reusable_archive(*, user, sha256: str, size_bytes: int, exclude: str = "") -> Run | None:
    """The newest run in the caller's scope with this archive still stored, or None."""
    candidates = (
        stored_archives()
        .filter(reuse_scope(user), archive_sha256=sha256.lower(), archive_size_bytes=size_bytes)
        .exclude(pk=exclude)
        .order_by("-archive_verified_at")
        .only("id", *SHARED_FIELDS)
    )
    for source in candidates[:MAX_CANDIDATES]:
        if storage().exists(source.archive_file):
            return source
    return None


def archive_share(*, run_id: str, source: Run) -> bool:
    """Make `source`'s stored archive the archive of `run_id` (awaiting_archive -> ready), with
    uploadMethod "reused". The source row is locked and re-read, so that an archive removed by
    retention meanwhile is not taken. Returns whether the run became ready."""
    with transaction.atomic():
        locked = stored_archives().select_for_update().filter(pk=source.pk).first()
        if locked is None or locked.archive_file != source.archive_file:
            return False
        return lifecycle.transition(
            run_id,
            S.READY,
            archive_upload_method="reused",
            archive_verified_at=timezone.now(),
            **{name: getattr(locked, name) for name in SHARED_FIELDS},
        )


def archive_users(name: str, *, excluding=()) -> int:
    """How many runs (other than `excluding`) refer to the stored archive `name`."""
    return Run.objects.filter(archive_file=name).exclude(pk__in=list(excluding)).count()


def blob_delete(name: str) -> None:
    """Delete a stored file; one already gone is not an error (a sweep may be repeated)."""
    if not name:
        return
    with contextlib.suppress(FileNotFoundError):
        storage().delete(name)
    log.info("deleted stored file %s", name)


def archive_release_on_commit(name: str) -> None:
    """After the current transaction commits, delete `name` unless a run still refers to it."""

    def release():
        if name and not archive_users(name):
            blob_delete(name)

    transaction.on_commit(release)
