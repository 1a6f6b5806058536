"""What a Celery worker host adds for operators: its metrics exporter (started by the main
process, which outlives the prefork children), the multiprocess files of children that exit,
the run id of the task at hand in every log line, and JSON logs when asked for."""

import logging
import os

from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)
from django.conf import settings
from prometheus_client import multiprocess

from . import logs
from .exposition import multiprocess_dir

log = logging.getLogger(__name__)
_servers = []


@worker_init.connect
def name_the_host(**_):
    logs.worker_host_set(settings.CROWNEST_WORKER_HOST)


@worker_ready.connect
def start_exporter(**_):
    port = settings.CROWNEST_METRICS_PORT
    if port <= 0:
        return
    if not multiprocess_dir():
        log.warning(
            "metrics: PROMETHEUS_MULTIPROC_DIR is not set, so the counts of this worker's run "
            "processes are not served; set it to a directory of this worker alone"
        )
    # Here, not at the top: this module is loaded in every process (its signals), the exporter
    # reads the sandbox, and the web process must never load the worker's code.
    from .worker_exporter import worker_exporter_start

    try:
        _servers.append(worker_exporter_start(port, settings.CROWNEST_METRICS_ADDRESS))
    except OSError as exc:  # the worker still runs; only its metrics are missing
        log.error(
            "metrics: cannot serve on %s:%s: %s", settings.CROWNEST_METRICS_ADDRESS, port, exc
        )


@worker_shutdown.connect
def stop_exporter(**_):
    while _servers:
        _servers.pop().shutdown()


@worker_process_shutdown.connect
def forget_child(pid=None, **_):
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid or os.getpid())


@task_prerun.connect
def task_context(task_id=None, args=None, kwargs=None, **_):
    """Tasks take ids: a run's (execute_run, finish_ending) names the run in every log line."""
    logs.task_id.set(task_id or "")
    first = (args or [None])[0] if args else (kwargs or {}).get("run_id")
    logs.run_id.set(first if isinstance(first, str) and first.startswith("wr_") else "")


@task_postrun.connect
def task_context_end(**_):
    logs.task_id.set("")
    logs.run_id.set("")


@after_setup_logger.connect
@after_setup_task_logger.connect
def json_logs(logger=None, **_):
    """Celery replaces the root logger's handlers with its own: give them the context too."""
    for handler in logger.handlers if logger else []:
        logs.add_context_to(handler, json=settings.CROWNEST_LOG_FORMAT == "json")
