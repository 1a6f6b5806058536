"""Retention of recorded downloads: a run's response bodies are kept as long as its archive
(CROWNEST_RETENTION_ARCHIVE_DAYS, counted the same way; a pinned or active run keeps them, and
so does a run with a replay still queued or running). Its digests stay in its log and evidence
for ever; only the bodies go, and a body shared with a run that still keeps its own stays."""

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from ..models import Run
from ..shared_archives import blob_delete
from .models import NetworkRequest, RunNetwork
from .store import body_name

S = Run.Status
ACTIVE = (S.QUEUED, S.RUNNING)


def _due(limit):
    """Recorded networks past the age whose bodies are still kept."""
    active_replay = RunNetwork.objects.filter(
        replay_of_id=OuterRef("run_id"), run__status__in=ACTIVE
    )
    aged = Q(run__finished_at__lt=limit) & Q(run__pinned=False) & ~Q(run__status__in=ACTIVE)
    return (
        RunNetwork.objects.filter(recorded_at__isnull=False, bodies_expired_at__isnull=True)
        .exclude(mode=RunNetwork.Mode.NONE)
        .filter(aged)
        .exclude(Exists(active_replay))
    )


def _unshared(digests: set[str]) -> set[str]:
    """Of these bodies, the ones no run that keeps its bodies refers to any more."""
    kept = NetworkRequest.objects.filter(
        sha256__in=digests, run__network__bodies_expired_at__isnull=True
    )
    return digests - set(kept.values_list("sha256", flat=True))


def expire_batch(due, run_ids: list[str], report) -> None:
    with transaction.atomic():
        # Re-read under the row locks: a run pinned or replayed meanwhile keeps its bodies.
        locked = list(
            due.filter(run_id__in=run_ids)
            .select_for_update(of=("self",))
            .values_list("run_id", flat=True)
        )
        rows = NetworkRequest.objects.filter(run_id__in=locked).exclude(sha256="")
        sizes = dict(rows.values_list("sha256", "size_bytes"))
        report.network_runs += len(locked)
        if report.dry_run:
            return
        RunNetwork.objects.filter(run_id__in=locked).update(bodies_expired_at=timezone.now())
        gone = _unshared(set(sizes))
        report.network_bodies += len(gone)
        report.network_bytes += sum(sizes[d] for d in gone)
        for digest in gone:
            transaction.on_commit(lambda d=digest: blob_delete(body_name(d)))


def sweep_network(report, limit, batch: int) -> None:
    if limit is None:
        return
    due, after = _due(limit), ""
    while ids := list(
        due.filter(run_id__gt=after).order_by("run_id").values_list("run_id", flat=True)[:batch]
    ):
        after = ids[-1]
        expire_batch(due, ids, report)
        report.batches += 1
