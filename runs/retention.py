"""Retention: stored archives and artifacts expire after settings-defined ages; a pinned run's
are kept. Evidence Bundles, attestations and event logs are never touched (they live in the
database and are what remains of a run).

- An archive's age is counted per run from when the run finished (or, before that, from when
  its archive was verified). A stored archive shared by several runs expires only when every
  run using it is past the age, none is pinned and none is queued or running. Its runs keep
  their declared size and sha256 (re-runs then await an upload of the same bytes); a `ready`
  run goes back to `awaiting_archive`.
- A network run's recorded downloads (the bodies a replay serves) go with the same age as its
  archive (runs/egress/retention.py); its log and digests stay.
- An artifact's age is counted from its collection; its metadata stays, its download answers
  410 `artifact_expired`.

The sweep works in batches, each in its own transaction; stored files are deleted after that
transaction commits, and a file already gone is not an error, so a sweep cut short is simply
done again."""

from dataclasses import asdict, dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from ops import metrics

from . import lifecycle
from .egress.retention import sweep_network
from .models import Artifact, Run
from .shared_archives import blob_delete

S = Run.Status
ACTIVE = (S.QUEUED, S.RUNNING)
ARCHIVE_EXPIRED = (
    "This run's archive is no longer stored (removed by retention, or lost by the storage): "
    "upload the same file again (PUT .../archive or a staged transfer), then start the run."
)


def archive_expire(run_id: str, *, now=None) -> bool:
    """A ready run whose stored archive is gone (retention removed it, or the storage lost it)
    goes back to awaiting_archive, with an `error` event saying so; the same bytes can then be
    sent again. False when the run was not ready (it moved on meanwhile)."""
    return lifecycle.transition(
        run_id,
        S.AWAITING_ARCHIVE,
        expect=[S.READY],
        before=[("error", {"code": "archive_expired", "message": ARCHIVE_EXPIRED})],
        archive_file="",
        archive_verified_at=None,
        archive_upload_method="",
        archive_expired_at=now or timezone.now(),
    )


@dataclass
class SweepReport:
    dry_run: bool
    archives: int = 0
    archive_bytes: int = 0
    archive_runs: int = 0
    artifacts: int = 0
    artifact_bytes: int = 0
    network_runs: int = 0  # runs whose recorded downloads expired
    network_bodies: int = 0  # bodies deleted (a body still shared with a kept run stays)
    network_bytes: int = 0
    batches: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def cutoff(days: int):
    return timezone.now() - timedelta(days=days) if days > 0 else None


def _aged_runs():
    return Run.objects.annotate(
        archive_age_from=Coalesce("finished_at", "archive_verified_at", "created_at")
    )


def _holds(limit) -> Q:
    """Runs that keep their stored archive: pinned, active, or not yet past the age."""
    return Q(pinned=True) | Q(status__in=ACTIVE) | Q(archive_age_from__gte=limit)


def _archive_candidates(limit, after: str, size: int) -> list[str]:
    expired = _aged_runs().exclude(archive_file="").exclude(_holds(limit))
    names = expired.filter(archive_file__gt=after).values_list("archive_file", flat=True)
    return list(names.order_by("archive_file").distinct()[:size])


def _expirable(names: list[str], limit, *, lock: bool) -> list[str]:
    runs = Run.objects.filter(archive_file__in=names)
    if lock:  # every run sharing these files, so that none starts or is reused meanwhile
        list(runs.select_for_update().values_list("pk", flat=True))
    held = set(
        _aged_runs()
        .filter(archive_file__in=names)
        .filter(_holds(limit))
        .values_list("archive_file", flat=True)
    )
    return [name for name in names if name not in held]


def _expire_archives(names: list[str], report: SweepReport) -> None:
    now = timezone.now()
    runs = Run.objects.filter(archive_file__in=names)
    sizes = dict(runs.values_list("archive_file", "archive_size_bytes"))
    report.archives += len(names)
    report.archive_bytes += sum(sizes.values())
    report.archive_runs += runs.count()
    if report.dry_run:
        return
    for run_id in runs.filter(status=S.READY).values_list("pk", flat=True):
        archive_expire(run_id, now=now)
    runs.exclude(status=S.READY).update(archive_file="", archive_expired_at=now)
    for name in names:
        transaction.on_commit(lambda name=name: blob_delete(name))


def sweep_archives(report: SweepReport, days: int, batch: int) -> None:
    limit, after = cutoff(days), ""
    if limit is None:
        return
    while names := _archive_candidates(limit, after, batch):
        after = names[-1]
        with transaction.atomic():
            _expire_archives(_expirable(names, limit, lock=not report.dry_run), report)
        report.batches += 1


def _expire_artifacts(due, rows: list, report: SweepReport) -> None:
    if not report.dry_run:
        # Re-read under the row locks: a run pinned meanwhile keeps its artifacts.
        locked = due.filter(pk__in=[pk for pk, _, _ in rows]).select_for_update(of=("self",))
        done = set(locked.values_list("pk", flat=True))
        rows = [row for row in rows if row[0] in done]
        Artifact.objects.filter(pk__in=list(done)).update(expired_at=timezone.now(), file="")
        for _, name, _ in rows:
            transaction.on_commit(lambda name=name: blob_delete(name))
    report.artifacts += len(rows)
    report.artifact_bytes += sum(size for _, _, size in rows)


def sweep_artifacts(report: SweepReport, days: int, batch: int) -> None:
    limit, after = cutoff(days), ""
    if limit is None:
        return
    due = Artifact.objects.filter(expired_at__isnull=True, created_at__lt=limit, run__pinned=False)
    due = due.exclude(file="").order_by("pk")
    while rows := list(due.filter(pk__gt=after).values_list("pk", "file", "size_bytes")[:batch]):
        after = rows[-1][0]
        with transaction.atomic():
            _expire_artifacts(due, rows, report)
        report.batches += 1


def retention_sweep(
    *,
    dry_run: bool = False,
    archive_days: int | None = None,
    artifact_days: int | None = None,
    batch: int | None = None,
) -> SweepReport:
    """One sweep over archives and artifacts; with dry_run, counts what it would remove."""
    report = SweepReport(dry_run=dry_run)
    batch = batch or settings.CROWNEST_RETENTION_BATCH
    if archive_days is None:
        archive_days = settings.CROWNEST_RETENTION_ARCHIVE_DAYS
    if artifact_days is None:
        artifact_days = settings.CROWNEST_RETENTION_ARTIFACT_DAYS
    sweep_archives(report, archive_days, batch)
    sweep_network(report, cutoff(archive_days), batch)
    sweep_artifacts(report, artifact_days, batch)
    metrics.retention_swept(report)
    return report
