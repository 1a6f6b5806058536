"""Worker hosts: each Celery worker, with its own Docker engine (DOCKER_HOST) and run slots (its
concurrency), records itself as a WorkerHost when it starts and beats while it lives. What only
its engine can do (removing its sandboxes: strays, kept ones past their time, its pool's
orphans) its own reaper pass does, from the same thread. Runs come from the shared queue: a
worker process takes one only when it is free (prefetch 1, late ack), so no run waits behind a
busy host while another has a free slot. Cancel reaches the run through the database, which the
worker running it polls."""

import logging
import os
import threading
import time

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from ..dbretry import db_retry
from ..egress.health import egress_host_status
from ..models import WorkerHost
from ..scheduling.resources import host_capacity

log = logging.getLogger(__name__)
DEFAULT_ENGINE = "unix:///var/run/docker.sock"


def host_name() -> str:
    return settings.CROWNEST_WORKER_HOST


def host_register(slots: int) -> None:
    now = timezone.now()
    WorkerHost.objects.update_or_create(
        name=host_name(),
        defaults={
            "docker_host": os.environ.get("DOCKER_HOST", DEFAULT_ENGINE),
            "instance": settings.CROWNEST_INSTANCE,
            "slots": slots,
            "started_at": now,
            "last_seen_at": now,
            "stopped_at": None,
            "egress": egress_host_status(),
            **host_capacity(),
        },
    )


def host_beat(slots: int) -> None:
    """Heard from now; a host whose row went (deleted in the admin) records itself again."""
    updated = db_retry(
        WorkerHost.objects.filter(name=host_name()).update,
        last_seen_at=timezone.now(),
        stopped_at=None,
        egress=egress_host_status(),  # whether this host's egress proxy answers
        **host_capacity(),  # what it lends to sandboxes (a changed setting shows at once)
    )
    if not updated:
        host_register(slots)


def host_stopped() -> None:
    WorkerHost.objects.filter(name=host_name()).update(stopped_at=timezone.now())


class HostKeeper:
    """A thread of the worker's main process, never busy with a run: the host's heartbeat and,
    every `reap_every` seconds, its reaper pass (`reap`, given by the caller), so neither waits
    for a free slot when every slot is taken."""

    def __init__(self, slots: int, interval: float, reap_every: float, reap):
        self.slots, self.interval, self.reap_every, self.reap = slots, interval, reap_every, reap
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="host-keeper", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(30)
        try:
            host_stopped()
        finally:
            close_old_connections()

    def _loop(self) -> None:
        next_beat = next_reap = time.monotonic()
        while not self.stopping.is_set():
            now = time.monotonic()
            if now >= next_beat:
                self._step(lambda: host_beat(self.slots), "record the host's heartbeat")
                next_beat = now + self.interval
            if self.reap_every > 0 and now >= next_reap:
                self._step(self.reap, "run the reaper")
                next_reap = time.monotonic() + self.reap_every
            wait = min(next_beat, next_reap if self.reap_every > 0 else next_beat)
            self.stopping.wait(max(0.05, wait - time.monotonic()))

    def _step(self, action, what: str) -> None:
        try:
            action()
        except Exception:  # an outage (database, engine) must not end the keeper
            log.warning("could not %s", what, exc_info=True)
        finally:
            close_old_connections()
