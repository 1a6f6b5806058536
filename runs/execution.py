"""What a worker does with a queued run: sandbox, extract, command, artifacts, evidence."""

import logging
import mimetypes
import os
import queue
import shutil
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.files import File
from django.utils import timezone

from . import events, lifecycle
from .models import Artifact, Run, Template
from .output import OutputPump
from .sandbox import RunSpec, SandboxError, get_sandbox, limits_from_settings
from .services import storage

log = logging.getLogger(__name__)
S = Run.Status
F = Run.Failure
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Outcome:
    status: str = S.SUCCEEDED
    exit_code: int | None = None
    failure: str = ""


class Phases:
    def __init__(self):
        self.values: dict[str, float] = {}
        self._start = None

    def begin(self):
        self._start = time.monotonic()

    def end(self, name: str):
        self.values[name] = round(time.monotonic() - self._start, 4)


def argv_for(command) -> list[str]:
    return ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)


def touch(run_id: str) -> None:
    Run.objects.filter(pk=run_id).update(worker_seen_at=timezone.now())


def run_execute(*, run_id: str) -> None:
    """Idempotent: only the worker whose conditional queued->running update wins does anything."""
    if not lifecycle.transition(run_id, S.RUNNING, worker=WORKER_ID, worker_seen_at=timezone.now()):
        return
    run = Run.objects.get(pk=run_id)
    phases = Phases()
    if run.queued_at and run.started_at:
        phases.values["queue"] = round((run.started_at - run.queued_at).total_seconds(), 4)
    template = settings.CROWNEST_TEMPLATES[run.template]
    limits = limits_from_settings()
    spec = RunSpec(run.id, template["image"], argv_for(run.command), dict(run.env), limits)
    outcome = Outcome()
    sandbox = None
    try:
        phases.begin()
        sandbox = get_sandbox()
        image = sandbox.describe_image(spec.image)
        register_template(run.template, image)
        Run.objects.filter(pk=run.id).update(
            image=image.image,
            image_digest=image.digest,
            sandbox_id=f"crownest-run-{run.id}",
            limits=limits_record(run, limits),
        )
        sandbox.prepare(spec)
        phases.end("create")

        phases.begin()
        outcome = extract(sandbox, spec, run)
        phases.end("extract")
        if outcome.failure:
            return
        phases.begin()
        outcome = command(sandbox, spec, run)
        phases.end("exec")
        if outcome.status != S.CANCELED and run.artifact_paths:
            phases.begin()
            collect(sandbox, spec, run)
            phases.end("collect")
    except SandboxError as exc:
        log.exception("sandbox error in %s", run_id)
        events.append(run_id, [("error", {"code": "sandbox_error", "message": str(exc)})])
        outcome = Outcome(S.FAILED, outcome.exit_code, F.SANDBOX_ERROR)
    except Exception as exc:  # never leave a run running because of a bug here
        log.exception("unexpected error in %s", run_id)
        events.append(run_id, [("error", {"code": "sandbox_error", "message": repr(exc)})])
        outcome = Outcome(S.FAILED, outcome.exit_code, F.SANDBOX_ERROR)
    finally:
        finish(run_id, outcome, sandbox, phases)


def limits_record(run: Run, limits) -> dict:
    return {
        "timeoutSeconds": run.timeout_seconds,
        "memory": limits.memory,
        "cpus": limits.cpus,
        "pids": limits.pids,
        "tmpSize": limits.tmp_size,
        "network": limits.network,
        "outputLimitBytes": settings.CROWNEST_OUTPUT_LIMIT,
        "artifactMaxBytes": settings.CROWNEST_ARTIFACT_MAX_BYTES,
        "artifactMaxTotalBytes": settings.CROWNEST_ARTIFACT_MAX_TOTAL,
        "artifactMaxFiles": settings.CROWNEST_ARTIFACT_MAX_FILES,
    }


def register_template(name: str, image) -> None:
    Template.objects.update_or_create(
        name=name,
        defaults={
            "image": image.image,
            "image_digest": image.digest,
            "python": image.python,
            "node": image.node,
        },
    )


def extract(sandbox, spec: RunSpec, run: Run) -> Outcome:
    total = run.archive_size_bytes
    step = max(total // 10, 1)
    state = {"next": step}

    def progress(done: int, files: int) -> None:
        if done >= state["next"] or done == total:
            state["next"] = (done // step + 1) * step
            data = {"phase": "extract", "bytesDone": done, "bytesTotal": total, "filesDone": files}
            events.append(run.id, [("archive_progress", data)])

    try:
        with storage().open(run.archive_file, "rb") as fh:
            sandbox.extract(spec, fh, progress)
    except SandboxError as exc:
        events.append(run.id, [("error", {"code": "archive_invalid", "message": str(exc)})])
        return Outcome(S.FAILED, None, F.ARCHIVE_INVALID)
    return Outcome()


def command(sandbox, spec: RunSpec, run: Run) -> Outcome:
    Run.objects.filter(pk=run.id).update(command_started_at=timezone.now())
    execution = sandbox.execute(spec)
    pump = OutputPump(run.id)
    frames: queue.Queue = queue.Queue()

    def read():
        try:
            for item in execution.output():
                frames.put(item)
        finally:
            frames.put(None)

    threading.Thread(target=read, name=f"output-{run.id}", daemon=True).start()
    started = time.monotonic()
    deadline = started + run.timeout_seconds
    next_check = next_beat = started
    beat = settings.CROWNEST_HEARTBEAT_SECONDS
    stopped_for = ""
    while True:
        try:
            item = frames.get(timeout=0.05)
        except queue.Empty:
            item = ""
        if item is None:
            break
        if item:
            pump.feed(*item)
            if pump.capped and settings.CROWNEST_OUTPUT_LIMIT_FAILS and not stopped_for:
                stopped_for = F.OUTPUT_LIMIT
                sandbox.kill(run.id)
        if pump.due():
            pump.flush()
        now = time.monotonic()
        if now >= next_check:
            next_check = now + 0.5
            if not stopped_for and cancel_requested(run.id):
                stopped_for = "cancel"
                sandbox.kill(run.id)
        if now >= next_beat:
            if now > started:
                touch(run.id)
                events.append(run.id, [("heartbeat", {"elapsedSeconds": round(now - started, 1)})])
            next_beat = now + beat
        if now >= deadline and not stopped_for:
            stopped_for = F.TIMEOUT
            pump.flush()
            events.append(
                run.id,
                [
                    (
                        "error",
                        {
                            "code": "timeout",
                            "message": f"The command ran past its "
                            f"{run.timeout_seconds} s limit and was stopped.",
                        },
                    )
                ],
            )
            # Stop in the background so output keeps flowing during the grace period.
            threading.Thread(
                target=execution.stop, args=(settings.CROWNEST_STOP_GRACE_SECONDS,), daemon=True
            ).start()
    pump.flush(final=True)
    exit_info = execution.wait()
    Run.objects.filter(pk=run.id).update(
        command_finished_at=timezone.now(), exit_code=exit_info.exit_code
    )
    if stopped_for == "cancel":
        return Outcome(S.CANCELED, None, "")
    if stopped_for:
        return Outcome(S.FAILED, exit_info.exit_code, stopped_for)
    if exit_info.oom_killed:
        events.append(
            run.id,
            [
                (
                    "error",
                    {
                        "code": "oom_killed",
                        "message": "The command ran out of memory and was killed.",
                    },
                )
            ],
        )
        return Outcome(S.FAILED, exit_info.exit_code, F.OOM_KILLED)
    if exit_info.exit_code != 0:
        return Outcome(S.FAILED, exit_info.exit_code, F.EXIT_CODE)
    return Outcome(S.SUCCEEDED, 0, "")


def cancel_requested(run_id: str) -> bool:
    return Run.objects.filter(pk=run_id, cancel_requested_at__isnull=False).exists()


def collect(sandbox, spec: RunSpec, run: Run) -> None:
    limits = {
        "maxFileBytes": settings.CROWNEST_ARTIFACT_MAX_BYTES,
        "maxTotalBytes": settings.CROWNEST_ARTIFACT_MAX_TOTAL,
        "maxFiles": settings.CROWNEST_ARTIFACT_MAX_FILES,
    }
    work = tempfile.mkdtemp(prefix=f"collect-{run.id}-")
    try:
        result = sandbox.collect(spec, list(run.artifact_paths), limits, work)
        for collected in result.files:
            artifact = artifact_store(run=run, collected=collected)
            events.append(
                run.id,
                [
                    (
                        "artifact_collected",
                        {
                            "artifactId": artifact.id,
                            "path": artifact.path,
                            "sizeBytes": artifact.size_bytes,
                            "sha256": artifact.sha256,
                        },
                    )
                ],
            )
        if result.errors:
            events.append(run.id, [("artifact_error", e) for e in result.errors])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def artifact_store(*, run: Run, collected) -> Artifact:
    artifact = Artifact(
        run=run,
        path=collected.path,
        size_bytes=collected.size_bytes,
        sha256=collected.sha256,
        content_type=mimetypes.guess_type(collected.path)[0] or "application/octet-stream",
    )
    with open(collected.local_path, "rb") as fh:
        artifact.file = storage().save(
            f"artifacts/{run.id}/{artifact.id}", File(fh, name=artifact.id)
        )
    artifact.save()
    return artifact


def finish(run_id: str, outcome: Outcome, sandbox, phases: Phases) -> None:
    """terminal event, then the sandbox goes (unless kept), then the Evidence Bundle."""
    from evidence.services import evidence_build

    lifecycle.transition(
        run_id,
        outcome.status,
        exit_code=outcome.exit_code,
        failure_reason=outcome.failure,
    )
    run = Run.objects.get(pk=run_id)
    keep = run.keep_sandbox and run.status != S.CANCELED
    if sandbox is not None and not keep:
        phases.begin()
        try:
            sandbox.remove(run_id)
            Run.objects.filter(pk=run_id).update(sandbox_removed_at=timezone.now())
        except SandboxError:
            log.exception("could not remove the sandbox of %s; the reaper will", run_id)
        phases.end("remove")
    phases.begin()
    evidence_build(run_id=run_id)
    phases.end("evidence")
    Run.objects.filter(pk=run_id).update(phases=phases.values)
