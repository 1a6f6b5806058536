"""What a worker does with a queued run: claim it, prepare the sandbox, extract the archive, run
the command, collect artifacts, then end it through the one run-ended path (runs/ending.py)."""

import logging
import os
import socket
import time
import uuid

from django.conf import settings
from django.utils import timezone

from ops import metrics

from ..blobs import storage
from ..dbretry import db_retry
from ..egress.session import egress_opened, egress_spec
from ..ending import Outcome, run_end
from ..models import Run
from ..sandbox_templates.engine import version_image
from ..sandbox_templates.registry import RunPull
from ..sandbox_templates.selectors import template_version_for_run
from ..scheduling.dispatch import run_claim
from ..scheduling.resources import limits_for
from ..stream.progress import ArchiveProgress
from .artifacts import artifacts_collect
from .command import CommandLoop, touch
from .limits import limits_record
from .sandbox import DiskFull, RunSpec, SandboxError, get_sandbox, limits_from_settings
from .sandbox.disk import size_bytes

log = logging.getLogger(__name__)
S = Run.Status
F = Run.Failure
P = Run.Phase
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Phases:
    """Seconds spent in each phase of the run (Run.Phase), shown on the run page."""

    def __init__(self):
        self.values: dict[str, float] = {}
        self._start = None

    def begin(self):
        self._start = time.monotonic()

    def end(self, name: str):
        self.values[name] = round(time.monotonic() - self._start, 4)


def argv_for(command) -> list[str]:
    return ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)


def run_execute(*, run_id: str | None = None) -> str | None:
    """One slot of this host: start the fairest queued run that may start here now
    (runs/scheduling/dispatch.py; `run_id`, the start that sent the task, is only a hint) and
    carry it to its end. Returns the id of the run it ran, or None when none could start.
    Idempotent: a redelivered task claims another queued run or nothing."""
    run_id = db_retry(run_claim, host=settings.CROWNEST_WORKER_HOST, worker=WORKER_ID)
    if run_id is None:
        return None
    run_carry(run_id)
    return run_id


def run_carry(run_id: str) -> None:
    """A claimed (running) run, from its sandbox to its end."""
    run = Run.objects.get(pk=run_id)
    metrics.run_started(run)
    phases = Phases()
    if run.queued_at and run.started_at:
        phases.values[P.QUEUE] = round((run.started_at - run.queued_at).total_seconds(), 4)
    sandbox = None
    try:
        sandbox = get_sandbox()
        outcome = _execute(sandbox, run, phases)
    except SandboxError as exc:
        log.exception("sandbox error in %s", run_id)
        outcome = Outcome(S.FAILED, None, F.SANDBOX_ERROR, _error("sandbox_error", str(exc)))
    except Exception as exc:  # never leave a run running because of a bug here
        log.exception("unexpected error in %s", run_id)
        outcome = Outcome(S.FAILED, None, F.SANDBOX_ERROR, _error("sandbox_error", repr(exc)))
    exit_code = Run.objects.filter(pk=run_id).values_list("exit_code", flat=True).get()
    if outcome.exit_code is None and outcome.status == S.FAILED:
        outcome.exit_code = exit_code
    timings = run_end(run_id, outcome, sandbox=sandbox, phases=phases.values) or {}
    Run.objects.filter(pk=run_id).update(phases={**phases.values, **timings})
    metrics.run_phases({**phases.values, **timings})


def _error(code: str, message: str) -> dict:
    return {"code": code, "message": message}


def _execute(sandbox, run: Run, phases: Phases) -> Outcome:
    version = run.template_version or template_version_for_run(run.template)
    limits = limits_for(run, limits_from_settings())
    phases.begin()
    pull = RunPull(run.id)  # a host that lacks the version's image pulls it first
    digest, _info = version_image(sandbox, version, pull)
    if pull.seconds is not None:
        phases.values[P.PULL] = pull.seconds
        phases.begin()
    spec = egress_spec(run, RunSpec(run.id, digest, argv_for(run.command), dict(run.env), limits))
    sandbox_id = sandbox.prepare(spec)
    Run.objects.filter(pk=run.id).update(
        template_version=version,
        image=version.image,
        image_digest=digest,
        sandbox_id=sandbox_id,
        limits=limits_record(run, limits),
        worker_seen_at=timezone.now(),  # a slow sandbox start is not a lost worker
    )
    phases.end(P.SANDBOX)
    with egress_opened(run, sandbox):  # a network run's proxy socket, from extraction to exit
        phases.begin()
        outcome = extract(sandbox, spec, run)
        phases.end(P.EXTRACT)
        if outcome is not None:
            return outcome
        phases.begin()
        outcome = CommandLoop(sandbox, spec, run).run_to_end()
        phases.end(P.COMMAND)
    if outcome.status != S.CANCELED and run.artifact_paths:
        touch(run.id)
        phases.begin()
        artifacts_collect(sandbox=sandbox, spec=spec, run=run)
        phases.end(P.COLLECT)
    return outcome


def extract(sandbox, spec: RunSpec, run: Run) -> Outcome | None:
    """Stream the verified archive into /workspace; an Outcome only when that fails."""
    total = run.archive_size_bytes
    disk = spec.limits.disk
    if disk and (run.archive_expanded_bytes or 0) > size_bytes(disk):
        message = (
            f"The archive expands to {run.archive_expanded_bytes} bytes, more than the "
            f"workspace's {disk} disk limit; leave build outputs and dependencies out of it."
        )
        return Outcome(S.FAILED, None, F.DISK_LIMIT, _error("disk_limit", message))
    # bytesDone/bytesTotal count the compressed archive fed to tar; expandedBytes is its size
    # unpacked, which is what lands in /workspace (the run page's summary says that one).
    expanded = {"expandedBytes": run.archive_expanded_bytes} if run.archive_expanded_bytes else {}
    progress = ArchiveProgress(run.id, "extract", total, **expanded)
    try:
        with storage().open(run.archive_file, "rb") as fh:
            # Extraction is work too: a long one must not look like a vanished worker.
            sandbox.extract(spec, fh, lambda done, files: (progress(done, files), touch(run.id)))
    except DiskFull as exc:
        return Outcome(S.FAILED, None, F.DISK_LIMIT, _error("disk_limit", str(exc)))
    except SandboxError as exc:
        return Outcome(S.FAILED, None, F.ARCHIVE_INVALID, _error("archive_invalid", str(exc)))
    # The last report always goes out: every byte fed, and the files the archive holds.
    progress(total, run.archive_file_count, force=True)
    return None
