"""The run's status machine (docs/api.md, "The run"), and the only code that writes Run.status."""

from django.db import transaction
from django.utils import timezone

from ops import metrics

from .errors import InvalidState
from .models import Run
from .stream import events

S = Run.Status

# to-status -> the statuses it may come from.
ALLOWED_FROM = {
    S.READY: {S.AWAITING_ARCHIVE},
    # Back, when retention removed a ready run's archive: the same bytes can then be sent again.
    S.AWAITING_ARCHIVE: {S.READY},
    S.QUEUED: {S.READY},
    S.RUNNING: {S.QUEUED},
    S.SUCCEEDED: {S.RUNNING},
    S.FAILED: {S.QUEUED, S.RUNNING},
    S.CANCELED: {S.AWAITING_ARCHIVE, S.READY, S.QUEUED, S.RUNNING},
}

TIMESTAMP_FIELD = {S.QUEUED: "queued_at", S.RUNNING: "started_at"}


ACTIONS = {
    S.READY: "upload an archive to",
    S.QUEUED: "start",
    S.CANCELED: "cancel",
}


def allowed_for(action_to: str) -> list[str]:
    return sorted(ALLOWED_FROM[action_to])


def transition(run_id: str, to: str, *, expect=None, before=(), **fields) -> bool:
    """Move the run to `to` with a conditional UPDATE and record the status event in the same
    transaction, after the (type, data) items of `before` (an error that explains the outcome).
    Returns False (and changes nothing) when the current status does not allow it: a race or a
    redelivered task then does nothing instead of harm."""
    allowed = ALLOWED_FROM[to] if expect is None else ALLOWED_FROM[to] & set(expect)
    now = timezone.now()
    if to in TIMESTAMP_FIELD:
        fields.setdefault(TIMESTAMP_FIELD[to], now)
    terminal = to in Run.TERMINAL
    with transaction.atomic():
        previous = (
            Run.objects.select_for_update()
            .filter(pk=run_id)
            .values_list("status", flat=True)
            .first()
        )
        if previous not in allowed:
            return False
        if terminal:
            fields.setdefault("finished_at", now)
        if not Run.objects.filter(pk=run_id, status=previous).update(status=to, **fields):
            return False
        items = [*before, ("status", {"status": to, "previous": previous})]
        if terminal:
            run = Run.objects.get(pk=run_id)
            items.append(("terminal", terminal_data(run)))
            metrics.run_ended(run)  # counted once the transaction commits
        events.append(run_id, items, terminal=terminal)
    return True


def terminal_data(run: Run) -> dict:
    start = run.started_at or run.created_at
    duration = (run.finished_at - start).total_seconds() if run.finished_at else None
    return {
        "status": run.status,
        "exitCode": run.exit_code,
        "failureReason": run.failure_reason or None,
        "durationSeconds": round(duration, 3) if duration is not None else None,
        "artifactIds": list(
            run.artifacts.order_by("created_at", "path").values_list("id", flat=True)
        ),
    }


def invalid(status: str, to: str) -> InvalidState:
    return InvalidState(status, allowed_for(to), action=ACTIONS.get(to, ""))


def require(run: Run, to: str) -> None:
    if run.status not in ALLOWED_FROM[to]:
        raise invalid(run.status, to)
