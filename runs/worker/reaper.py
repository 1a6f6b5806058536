"""The reaper: ends runs whose worker vanished, finishes endings that were cut short, finds
queued runs whose task was lost (the shared pass, done by any one host), and removes sandboxes
that belong to no active or kept run and images of retired template versions that no run needs
(each host's own pass, on its own engine only). A run's
sandbox is only ever touched by the host that runs it (`Run.worker_host`)."""

import contextlib
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from ..egress.reaping import egress_strays_remove
from ..ending import Outcome, after_end, run_end, sandbox_remove
from ..models import Run
from ..sandbox_templates.registry import images_prune
from .sandbox import get_sandbox
from .sandbox.pool import claims_prune, orphan_workspaces, orphans

S = Run.Status
F = Run.Failure
LOST_WORKER = {
    "code": "lost_worker",
    "message": "The worker running this run stopped answering; the run was ended. Start it "
    "again (re-run) if it should complete.",
}
SHARED_PASS_LOCK = 0x63726F776E  # an advisory lock key of our own ("crown")
# A run that ended this long ago without its evidence had its ending cut short.
UNFINISHED_ENDING_SECONDS = 30


def reap() -> dict:
    """One whole pass for this host. Returns what it did; `requeue` lists queued runs whose
    task should be sent again (the caller, a Celery task, sends them)."""
    sandbox = get_sandbox()
    return {**reap_shared(sandbox), **reap_host(sandbox)}


def reap_shared(sandbox) -> dict:
    """Every host runs this pass; one at a time (a PostgreSQL advisory lock), the others skip."""
    with shared_pass_lock() as mine_now:
        if not mine_now:
            return {"lost": [], "finished": [], "requeue": []}
        return _reap_shared(sandbox)


@contextlib.contextmanager
def shared_pass_lock():
    if connection.vendor != "postgresql":  # SQLite: one host, nothing to share
        yield True
        return
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", [SHARED_PASS_LOCK])
        got = cur.fetchone()[0]
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", [SHARED_PASS_LOCK])


def _reap_shared(sandbox) -> dict:
    return {
        "lost": lost_runs_end(sandbox),
        "finished": unfinished_endings(sandbox),
        "requeue": stale_queued(),
    }


def reap_host(sandbox) -> dict:
    return {
        "removed": strays_remove(sandbox),
        "pool": pool_orphans_remove(sandbox),
        "egress": egress_strays_remove(),
        # Images of retired versions that no waiting or running run needs (this engine's own).
        "images": images_prune(sandbox),
    }


def mine(run: Run) -> bool:
    """Whether this host runs (or ran) the run's sandbox; runs from before hosts had names
    count as everyone's, as they did on one host."""
    return run.worker_host in ("", settings.CROWNEST_WORKER_HOST)


def lost_runs_end(sandbox) -> list[str]:
    lost_before = timezone.now() - timedelta(seconds=settings.CROWNEST_LOST_WORKER_SECONDS)
    lost = Run.objects.filter(status=S.RUNNING).filter(
        Q(worker_seen_at__lt=lost_before) | Q(worker_seen_at__isnull=True)
    )
    ended = []
    for run in lost:
        here = sandbox if mine(run) else None  # another host's sandbox: its own reaper removes it
        if here:
            here.kill(run.id)
        if run.cancel_requested_at:
            outcome = Outcome(S.CANCELED)
        else:
            outcome = Outcome(S.FAILED, run.exit_code, F.LOST_WORKER, LOST_WORKER)
        if run_end(run.id, outcome, sandbox=here, expect=[S.RUNNING]) is not None:
            ended.append(run.id)
    return ended


def unfinished_endings(sandbox) -> list[str]:
    """Runs with a terminal event whose after-end steps never completed (the process ending
    them died in between, or a receiver failed): they are done again, idempotently."""
    before = timezone.now() - timedelta(seconds=UNFINISHED_ENDING_SECONDS)
    runs = list(
        Run.objects.filter(
            status__in=Run.TERMINAL, finished_at__lt=before, ending_done_at__isnull=True
        ).only("id", "worker_host")
    )
    for run in runs:
        after_end(run.id, sandbox=sandbox if mine(run) else None)
    return [run.id for run in runs]


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
    kept_since = timezone.now() - timedelta(seconds=settings.CROWNEST_KEPT_SANDBOX_SECONDS)
    busy = set(
        Run.objects.filter(id__in=present)
        .filter(
            Q(status__in=[S.QUEUED, S.RUNNING])
            | Q(
                keep_sandbox=True,
                sandbox_removed_at__isnull=True,
                finished_at__gte=kept_since,
                status__in=[S.SUCCEEDED, S.FAILED],
            )
        )
        .values_list("id", flat=True)
    )
    removed = sorted(present - busy)
    for run_id in removed:
        sandbox_remove(sandbox, run_id)
    return removed
