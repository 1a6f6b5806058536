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


@shared_task(acks_late=True, ignore_result=True)
def execute_run(run_id: str) -> None:
    from .worker.execution import run_execute

    run_execute(run_id=run_id)


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
