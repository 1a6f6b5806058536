"""The reaper: ends runs whose worker vanished, finishes endings that were cut short, finds
queued runs whose task was lost, and removes sandboxes that belong to no active or kept run."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ..ending import Outcome, after_end, run_end
from ..models import Run
from .sandbox import get_sandbox
from .sandbox.pool import claims_prune, orphan_workspaces, orphans

S = Run.Status
F = Run.Failure
LOST_WORKER = {
    "code": "lost_worker",
    "message": "The worker running this run stopped answering; the run was ended. Start it "
    "again (re-run) if it should complete.",
}
# A run that ended this long ago without its evidence had its ending cut short.
UNFINISHED_ENDING_SECONDS = 30


def reap() -> dict:
    """One pass. Returns what it did; `requeue` lists queued runs whose task should be sent
    again (the caller, a Celery task, sends them: the reaper does not know the queue)."""
    sandbox = get_sandbox()
    report = {
        "lost": lost_runs_end(sandbox),
        "finished": unfinished_endings(sandbox),
        "requeue": stale_queued(),
        "removed": strays_remove(sandbox),
        "pool": pool_orphans_remove(sandbox),
    }
    return report


def lost_runs_end(sandbox) -> list[str]:
    lost_before = timezone.now() - timedelta(seconds=settings.CROWNEST_LOST_WORKER_SECONDS)
    lost = Run.objects.filter(status=S.RUNNING).filter(
        Q(worker_seen_at__lt=lost_before) | Q(worker_seen_at__isnull=True)
    )
    ended = []
    for run in lost:
        sandbox.kill(run.id)
        if run.cancel_requested_at:
            outcome = Outcome(S.CANCELED)
        else:
            outcome = Outcome(S.FAILED, run.exit_code, F.LOST_WORKER, LOST_WORKER)
        if run_end(run.id, outcome, sandbox=sandbox, expect=[S.RUNNING]) is not None:
            ended.append(run.id)
    return ended


def unfinished_endings(sandbox) -> list[str]:
    """Runs with a terminal event whose after-end steps never completed (the process ending
    them died in between, or a receiver failed): they are done again, idempotently."""
    before = timezone.now() - timedelta(seconds=UNFINISHED_ENDING_SECONDS)
    run_ids = list(
        Run.objects.filter(
            status__in=Run.TERMINAL, finished_at__lt=before, ending_done_at__isnull=True
        ).values_list("id", flat=True)
    )
    for run_id in run_ids:
        after_end(run_id, sandbox=sandbox)
    return run_ids


def stale_queued() -> list[str]:
    requeue_before = timezone.now() - timedelta(seconds=settings.CROWNEST_REQUEUE_SECONDS)
    return list(
        Run.objects.filter(status=S.QUEUED, queued_at__lt=requeue_before).values_list(
            "id", flat=True
        )
    )


def pool_orphans_remove(sandbox) -> list[str]:
    """Pooled containers left by a worker that died without draining its pool."""
    gone = [c.name for c in orphans(sandbox)] + orphan_workspaces(sandbox)
    for name in gone:
        sandbox.remove_named(name)
    claims_prune(sandbox)
    return gone


def strays_remove(sandbox) -> list[str]:
    present = sandbox.run_ids()
    busy = set(
        Run.objects.filter(id__in=present)
        .filter(
            Q(status__in=[S.QUEUED, S.RUNNING])
            | Q(
                keep_sandbox=True,
                sandbox_removed_at__isnull=True,
                status__in=[S.SUCCEEDED, S.FAILED],
            )
        )
        .values_list("id", flat=True)
    )
    removed = sorted(present - busy)
    for run_id in removed:
        sandbox.remove(run_id)
        Run.objects.filter(pk=run_id, sandbox_removed_at__isnull=True).update(
            sandbox_removed_at=timezone.now()
        )
    return removed
