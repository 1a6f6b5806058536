"""Fair dispatch: a worker's execute_run task is a slot, not a run. The worker starts the fairest
queued run that may start now on its host (queue.py's order, minus runs whose user or team is at
its concurrency quota and runs that do not fit the host's free capacity), which may be another
run than the one whose start sent the task.

Claiming is safe with any number of hosts asking at once (docs/architecture.md, "Scheduling"):
- the host's own row is locked first, so the claimers of one host count its free capacity one at
  a time;
- a candidate run is taken with SELECT ... FOR UPDATE SKIP LOCKED: a run another claimer is
  looking at is passed over, never waited for;
- its owner's and team's rows are then locked and their running runs counted again, so two
  hosts cannot both start the last run a quota allows;
- the queued -> running move is the conditional update of lifecycle.transition.
A candidate that fails a check is left in a savepoint rolled back, which releases its locks.
SQLite (the demo) has none of these locks; it serialises writers, and the conditional update
keeps one run from starting twice."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from .. import lifecycle
from ..models import Run, Team, WorkerHost
from .queue import Waiting, fair_order, free_capacity, owner_limit, snapshot, team_limit
from .resources import shortfall

S = Run.Status


class _Skip(Exception):
    """This candidate cannot start after all: roll its savepoint back."""


def run_claim(*, host: str, worker: str) -> str | None:
    """Move the fairest startable queued run to running on `host`; its id, or None."""
    with transaction.atomic():
        host_row = WorkerHost.objects.select_for_update().filter(name=host).first()
        snap = snapshot()
        free = free_capacity(host_row)
        for w in fair_order(snap):
            if snap.full(w) or shortfall(w.resources, free):
                continue
            if _start(w, host=host, worker=worker):
                return w.id
    return None


def _start(w: Waiting, *, host: str, worker: str) -> bool:
    try:
        with transaction.atomic():
            taken = Run.objects.select_for_update(skip_locked=True).filter(pk=w.id, status=S.QUEUED)
            if taken.values_list("id", flat=True).first() is None:
                return False
            if _quota_reached(w):
                raise _Skip
            moved = lifecycle.transition(
                w.id, S.RUNNING, worker=worker, worker_host=host, worker_seen_at=timezone.now()
            )
            if not moved:
                raise _Skip
            return True
    except _Skip:
        return False


def _quota_reached(w: Waiting) -> bool:
    """Counted again under the owner's and the team's row locks (NO KEY UPDATE, as the API's
    start takes the owner's), so that concurrent claimers see each other's starts."""
    users = get_user_model().objects.select_for_update(no_key=True)
    list(users.filter(pk=w.owner_id).values_list("pk", flat=True))
    running = Run.objects.filter(status=S.RUNNING)
    limit = owner_limit(w.owner_id)
    if limit and running.filter(owner_id=w.owner_id).count() >= limit:
        return True
    if w.team_id is None:
        return False
    list(Team.objects.select_for_update(no_key=True).filter(pk=w.team_id).values_list("pk"))
    limit = team_limit(w.team_id)
    return bool(limit) and running.filter(team_id=w.team_id).count() >= limit
