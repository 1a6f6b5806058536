"""The one run-ended path. Every way a run reaches a terminal status (the command finished,
timeout, cancel before or during the run, lost worker, sandbox or archive error) goes through
`run_end`, which does, in this order:

1. the terminal transition: the `status` and `terminal` events in one transaction, with a
   conditional UPDATE, so a redelivered or concurrent call finds the run ended and stops here;
2. the `run_ended` signal: its receivers (the evidence app) write the Evidence Bundle exactly
   once, right after the terminal event, so a client that has seen `terminal` can fetch it;
3. the removal of the sandbox (unless it is kept), which nothing a client sees waits for.

runs never imports evidence: evidence connects to the signal (evidence/apps.py)."""

import logging
import time
from dataclasses import dataclass

from django.dispatch import Signal
from django.utils import timezone

from . import lifecycle
from .dbretry import db_retry
from .models import Run

log = logging.getLogger(__name__)
S = Run.Status
P = Run.Phase

# Sent with run_id=... once the terminal event is stored. Receivers must be idempotent: the
# reaper sends it again for a run whose ending was cut short (a worker killed mid-way).
run_ended = Signal()


@dataclass
class Outcome:
    status: str = S.SUCCEEDED
    exit_code: int | None = None
    failure: str = ""
    error: dict | None = None  # an `error` event ({code, message}) recorded before terminal


def run_end(
    run_id: str, outcome: Outcome, *, sandbox=None, expect=None, finish=True, phases=None
) -> dict | None:
    """End the run once. Returns the timings of the steps after the terminal event, or None when
    the run had already ended (or was not in an expected status): then nothing is done.
    `phases` (seconds per Run.Phase measured so far) is stored with the terminal status, so the
    first read that shows the run ended shows them too; evidence and cleanup follow.

    With finish=False only step 1 happens here and the caller hands steps 2 and 3 to a worker
    (`runs.tasks.finish_ending`): the web process holds no signing key and no Docker socket."""
    # Each database step is one transaction of its own, repeated if the connection drops
    # (db_retry); inside a caller's transaction (the API's cancel) it is not repeated.
    moved = db_retry(
        lifecycle.transition,
        run_id,
        outcome.status,
        expect=expect,
        before=[("error", outcome.error)] if outcome.error else (),
        exit_code=outcome.exit_code,
        failure_reason=outcome.failure,
        **({"phases": phases} if phases is not None else {}),
    )
    if not moved:
        return None
    return after_end(run_id, sandbox=sandbox) if finish else {}


def after_end(run_id: str, *, sandbox=None) -> dict:
    """Steps 2 and 3 for a run that has its terminal event. Idempotent."""
    timings, complete = {}, True
    started = time.monotonic()
    for receiver, result in run_ended.send_robust(sender=Run, run_id=run_id):
        if isinstance(result, Exception):
            # The run stays ended; the reaper does these steps again later.
            log.error("run_ended receiver %r failed for %s: %r", receiver, run_id, result)
            complete = False
    timings[P.EVIDENCE] = round(time.monotonic() - started, 4)
    run = db_retry(Run.objects.get, pk=run_id)
    if sandbox is not None and not sandbox_kept(run):
        started = time.monotonic()
        try:
            sandbox_remove(sandbox, run_id)
        except Exception:
            log.exception("could not remove the sandbox of %s; the reaper will", run_id)
        timings[P.CLEANUP] = round(time.monotonic() - started, 4)
    if complete:
        db_retry(
            Run.objects.filter(pk=run_id, ending_done_at__isnull=True).update,
            ending_done_at=timezone.now(),
        )
    return timings


def sandbox_remove(sandbox, run_id: str) -> None:
    """Remove the run's sandbox, then record when (the run object's `sandbox.removedAt`); the
    one place that does both, for the run-ended path and the reaper alike."""
    sandbox.remove(run_id)
    db_retry(
        Run.objects.filter(pk=run_id, sandbox_removed_at__isnull=True).update,
        sandbox_removed_at=timezone.now(),
    )


def sandbox_kept(run: Run) -> bool:
    """keepSandbox holds for runs that ended on their own; a canceled run's sandbox goes."""
    return run.keep_sandbox and run.status != S.CANCELED
