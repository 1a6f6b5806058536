"""The command loop: output pumped into events, heartbeats, cancel, timeout and output cap."""

import queue
import threading
import time

from django.conf import settings
from django.utils import timezone

from ..dbretry import db_retry
from ..ending import Outcome
from ..models import Run
from ..stream import events
from .output import OutputPump

S = Run.Status
F = Run.Failure
CANCEL = "cancel"


# Every database call of the loop goes through db_retry: a database restart while the command
# runs then costs a pause in the event log, not the run.


def touch(run_id: str) -> None:
    db_retry(Run.objects.filter(pk=run_id).update, worker_seen_at=timezone.now())


def cancel_requested(run_id: str) -> bool:
    return db_retry(Run.objects.filter(pk=run_id, cancel_requested_at__isnull=False).exists)


class CommandLoop:
    """Runs one command to its end. Output is read on a thread into a queue; this loop takes
    everything queued, flushes it when the pump says so (at once after a quiet spell, in
    batches during a flood: runs/worker/output.py) and, between reads, looks for a cancel
    (twice a second), writes heartbeats and stops the command at its timeout (SIGTERM, then
    SIGKILL after the grace period)."""

    CANCEL_CHECK_SECONDS = 0.5
    IDLE_SECONDS = 0.05  # the longest wait for output when nothing is pending

    def __init__(self, sandbox, spec, run: Run):
        self.sandbox, self.spec, self.run = sandbox, spec, run
        self.pump = OutputPump(run.id)
        self.frames: queue.Queue = queue.Queue()
        self.stopped_for = ""

    def run_to_end(self) -> Outcome:
        db_retry(Run.objects.filter(pk=self.run.id).update, command_started_at=timezone.now())
        execution = self.sandbox.execute(self.spec)
        threading.Thread(
            target=self._read, args=(execution,), name=f"output-{self.run.id}", daemon=True
        ).start()
        self._loop(execution)
        self.pump.flush(final=True)
        exit_info = execution.wait()
        db_retry(
            Run.objects.filter(pk=self.run.id).update,
            command_finished_at=timezone.now(),
            exit_code=exit_info.exit_code,
        )
        return self._outcome(exit_info)

    def _read(self, execution) -> None:
        try:
            for item in execution.output():
                self.frames.put(item)
        finally:
            self.frames.put(None)

    def _loop(self, execution) -> None:
        started = time.monotonic()
        deadline = started + self.run.timeout_seconds
        next_check = next_beat = started
        ended = False
        while not ended:
            ended = self._take(self.pump.wait_seconds(self.IDLE_SECONDS))
            if self.pump.due():
                self.pump.flush()
            now = time.monotonic()
            if now >= next_check:
                next_check = now + self.CANCEL_CHECK_SECONDS
                if not self.stopped_for and cancel_requested(self.run.id):
                    self._stop(CANCEL, kill=True)
            if now >= next_beat:
                if now > started:
                    touch(self.run.id)
                    elapsed = round(now - started, 1)
                    beat = [("heartbeat", {"elapsedSeconds": elapsed})]
                    db_retry(events.append, self.run.id, beat)
                next_beat = now + settings.CROWNEST_HEARTBEAT_SECONDS
            if now >= deadline and not self.stopped_for:
                self._timeout(execution)

    def _take(self, timeout: float) -> bool:
        """Feed the pump everything queued (waiting up to `timeout` for the first frame), so
        that what arrived during a flush goes out in the next one. True at the end of output."""
        try:
            item = self.frames.get(timeout=timeout)
            while item is not None:
                self._feed(item)
                if self.pump.full:
                    return False
                item = self.frames.get_nowait()
            return True
        except queue.Empty:
            return False

    def _feed(self, item) -> None:
        self.pump.feed(*item)
        if self.pump.capped and settings.CROWNEST_OUTPUT_LIMIT_FAILS and not self.stopped_for:
            self._stop(F.OUTPUT_LIMIT, kill=True)

    def _stop(self, why: str, *, kill: bool) -> None:
        self.stopped_for = why
        if kill:
            self.sandbox.kill(self.run.id)

    def _timeout(self, execution) -> None:
        self._stop(F.TIMEOUT, kill=False)
        self.pump.flush()
        message = (
            f"The command ran past its {self.run.timeout_seconds} s limit and was stopped; "
            "raise timeoutSeconds if it needs longer."
        )
        db_retry(events.append, self.run.id, [("error", {"code": "timeout", "message": message})])
        # Stop in the background so output keeps flowing during the grace period.
        threading.Thread(
            target=execution.stop, args=(settings.CROWNEST_STOP_GRACE_SECONDS,), daemon=True
        ).start()

    def _outcome(self, exit_info) -> Outcome:
        if self.stopped_for == CANCEL:
            return Outcome(S.CANCELED)
        if self.stopped_for:
            return Outcome(S.FAILED, exit_info.exit_code, self.stopped_for)
        if exit_info.oom_killed:
            error = {
                "code": "oom_killed",
                "message": "The command ran out of memory and was killed; "
                "it may use at most the run's memory limit.",
            }
            return Outcome(S.FAILED, exit_info.exit_code, F.OOM_KILLED, error)
        if exit_info.exit_code != 0:
            if self.sandbox.disk_full(self.run.id):
                error = {
                    "code": "disk_limit",
                    "message": f"The workspace reached its {self.spec.limits.disk} disk limit "
                    "(writes failed with 'No space left on device'); write less, or clean up "
                    "as the command goes.",
                }
                return Outcome(S.FAILED, exit_info.exit_code, F.DISK_LIMIT, error)
            return Outcome(S.FAILED, exit_info.exit_code, F.EXIT_CODE)
        return Outcome(S.SUCCEEDED, 0)
