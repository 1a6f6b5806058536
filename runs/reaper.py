"""The reaper: fails runs whose worker vanished, re-queues lost tasks, removes stray sandboxes."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from . import events, lifecycle
from .models import Run
from .sandbox import get_sandbox

S = Run.Status
F = Run.Failure


def reap() -> dict:
    """Fail runs whose worker vanished, re-queue runs whose task was lost, and remove sandboxes
    that belong to no active run."""
    from evidence.services import evidence_build

    from .tasks import execute_run

    now = timezone.now()
    lost_before = now - timedelta(seconds=settings.CROWNEST_LOST_WORKER_SECONDS)
    report = {"lost": [], "requeued": [], "removed": []}
    sandbox = get_sandbox()
    for run in Run.objects.filter(status=S.RUNNING).filter(
        Q(worker_seen_at__lt=lost_before) | Q(worker_seen_at__isnull=True)
    ):
        sandbox.kill(run.id)
        if run.cancel_requested_at:
            moved = lifecycle.transition(run.id, S.CANCELED, expect=[S.RUNNING])
        else:
            events.append(
                run.id,
                [
                    (
                        "error",
                        {"code": "lost_worker", "message": "The worker running this run vanished."},
                    )
                ],
            )
            moved = lifecycle.transition(
                run.id, S.FAILED, expect=[S.RUNNING], failure_reason=F.LOST_WORKER
            )
        if moved:
            sandbox.remove(run.id)
            Run.objects.filter(pk=run.id).update(sandbox_removed_at=timezone.now())
            evidence_build(run_id=run.id)
            report["lost"].append(run.id)
    requeue_before = now - timedelta(seconds=settings.CROWNEST_REQUEUE_SECONDS)
    for run_id in Run.objects.filter(status=S.QUEUED, queued_at__lt=requeue_before).values_list(
        "id", flat=True
    ):
        execute_run.delay(run_id)
        report["requeued"].append(run_id)
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
    for run_id in sorted(present - busy):
        sandbox.remove(run_id)
        Run.objects.filter(pk=run_id, sandbox_removed_at__isnull=True).update(
            sandbox_removed_at=timezone.now()
        )
        report["removed"].append(run_id)
    return report
