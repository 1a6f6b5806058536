"""Thin Celery tasks: take ids, call services. acks_late so a dead worker's run is redelivered;
the services make redelivery harmless.

The web process imports this module to send tasks, so nothing here imports the worker's code at
import time (it reaches the sandbox, and the sandbox the docker package): each task imports what
it runs when a worker runs it. Worker start and stop (the keepers) are runs/worker/boot.py."""

import logging

from celery import shared_task

from ops import metrics

from .ending import after_end
from .intake.transfers import transfer_sweep
from .retention import retention_sweep as sweep_retention
from .sandbox_templates.tasks import build_template

log = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, ignore_result=True)
def execute_run(self, run_id: str | None = None) -> None:
    """A slot: the worker starts the fairest queued run that may start on its host now, which
    may be another than `run_id` (runs/scheduling/dispatch.py). When that run ends its slot is
    free: one more task, to the queue this one came from, gives a run that waited for a quota
    or for room its chance."""
    from .worker.execution import run_execute

    if run_execute(run_id=run_id) is not None:
        dispatch_again(queue=(self.request.delivery_info or {}).get("routing_key"))


def dispatch_again(*, queue: str | None = None, count: int = 1) -> None:
    """Send `count` slot tasks; with the broker away they are lost, and the reaper's re-send of
    runs queued for CROWNEST_REQUEUE_SECONDS stands in for them."""
    try:
        for _ in range(count):
            execute_run.apply_async((None,), **({"queue": queue} if queue else {}))
    except Exception:
        log.warning("could not send a dispatch task; the reaper will re-send", exc_info=True)


@shared_task(acks_late=True, ignore_result=True)
def reap() -> dict:
    """A reaper pass now, on whichever host takes the task (the admin's "Run the reaper now");
    each host also runs one every CROWNEST_REAPER_INTERVAL seconds by itself (HostKeeper)."""
    return reap_pass()


def reap_pass() -> dict:
    from .sandbox_templates.build import stale_builds
    from .worker import reaper

    report = reaper.reap()
    for run_id in report["requeue"]:
        execute_run.delay(run_id)
    if report["lost"]:  # their slots are free again
        dispatch_again(count=len(report["lost"]))
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
