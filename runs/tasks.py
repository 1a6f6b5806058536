"""Thin Celery tasks: take ids, call services. acks_late so a dead worker's run is redelivered;
the services make redelivery harmless."""

import logging

from celery import shared_task
from celery.signals import celeryd_after_setup, worker_ready, worker_shutdown
from celery.worker.control import control_command
from django.conf import settings

from ops import metrics

from .ending import after_end
from .intake.transfers import transfer_sweep
from .retention import retention_sweep as sweep_retention
from .worker import reaper
from .worker.execution import run_execute
from .worker.hosts import HostKeeper, host_register
from .worker.sandbox import SandboxError, get_sandbox, limits_from_settings
from .worker.sandbox.pool import PoolKeeper
from .worker.template_build import stale_builds, template_build
from .worker.templates import builtin_record

log = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def execute_run(run_id: str) -> None:
    run_execute(run_id=run_id)


@shared_task(acks_late=True, ignore_result=True)
def reap() -> dict:
    """A reaper pass now, on whichever host takes the task (the admin's "Run the reaper now");
    each host also runs one every CROWNEST_REAPER_INTERVAL seconds by itself (HostKeeper)."""
    return reap_pass()


def reap_pass() -> dict:
    report = reaper.reap()
    for run_id in report["requeue"]:
        execute_run.delay(run_id)
    report["templateBuilds"] = stale_builds()
    metrics.reaper_pass(report)
    for version_id in report["templateBuilds"]:
        build_template.delay(version_id)
    if any(report.values()):  # what it did, in the worker's log
        log.info("reaper pass: %s", report)
    return report


@shared_task(acks_late=True, ignore_result=True)
def finish_ending(run_id: str) -> None:
    """Evidence (signed here, where the key is) for a run the API ended before it started."""
    after_end(run_id)


@shared_task(acks_late=True, ignore_result=True)
def sweep_transfers() -> dict:
    return transfer_sweep()


@shared_task(acks_late=True, ignore_result=True)
def retention_sweep() -> dict:
    return sweep_retention().as_dict()


@shared_task(acks_late=True, ignore_result=True)
def build_template(version_id: int) -> None:
    template_build(version_id=version_id)


@worker_ready.connect
def register_templates(**_):
    """The settings templates (python-node) as Template rows, with their image's digest."""
    for name, conf in settings.CROWNEST_TEMPLATES.items():
        try:
            builtin_record(name, get_sandbox().describe_image(conf["image"]))
        except SandboxError as exc:
            log.error("template %s unavailable: %s", name, exc)


# The keepers this worker's main process started (pool, host), stopped when it shuts down.
_keeper: list[PoolKeeper | HostKeeper] = []
_slots: list[int] = []


@celeryd_after_setup.connect
def note_slots(sender, instance, **_):
    _slots.append(instance.concurrency)


@worker_ready.connect
def start_host_keeper(**_):
    """The host records itself with its slots, then beats and reaps from a thread of its own."""
    slots = _slots[0] if _slots else 0
    try:
        host_register(slots)
    except Exception:  # the worker still takes runs; the host shows once a beat gets through
        log.exception("could not record this worker host")
    beat, reap_every = settings.CROWNEST_HOST_HEARTBEAT_SECONDS, settings.CROWNEST_REAPER_INTERVAL
    keeper = HostKeeper(slots, beat, reap_every, reap_pass)
    keeper.start()
    _keeper.append(keeper)


@worker_ready.connect
def start_pool(**_):
    """The warm pool is kept by the worker's main process, for the whole host's slots."""
    if settings.CROWNEST_SANDBOX_POOL_SIZE <= 0:
        return
    try:
        keeper = PoolKeeper(
            get_sandbox(),
            settings.CROWNEST_TEMPLATES,
            limits_from_settings(),
            settings.CROWNEST_SANDBOX_POOL_SIZE,
        )
    except SandboxError as exc:
        log.error("no sandbox pool: %s", exc)
        return
    keeper.start()
    _keeper.append(keeper)


@worker_shutdown.connect
def stop_keepers(**_):
    """The pool is drained, then the host is recorded as stopped (last started, first stopped)."""
    while _keeper:
        _keeper.pop().stop()


@control_command()
def docker_ping(state) -> dict:
    """Answered by each worker for /healthz: whether this worker's Docker engine answers."""
    try:
        get_sandbox().ping()
    except SandboxError as exc:
        return {"error": str(exc)[:200]}
    return {"ok": True}
