"""A worker's start and stop: the images built outside the workers are recorded, the host
records itself and starts beating and reaping, the warm pool starts filling (pulling from the
registry the warm images this host lacks); at shutdown the pool
is drained and the host recorded as stopped. Also the control command /healthz broadcasts.

Imported by the worker only (crownest_web/celery.py: `imports`), never by the web process."""

import logging

from celery.signals import celeryd_after_setup, worker_ready, worker_shutdown
from celery.worker.control import control_command
from django.conf import settings
from django.db import close_old_connections

from ..sandbox_templates.engine import images_record
from ..sandbox_templates.registry import WarmPulls
from ..sandbox_templates.selectors import warm_images
from ..tasks import reap_pass
from .hosts import HostKeeper, host_register
from .sandbox import SandboxError, get_sandbox, limits_from_settings
from .sandbox.pool import PoolKeeper

log = logging.getLogger(__name__)

# The keepers this worker's main process started (pool, host), stopped when it shuts down.
_keeper: list[PoolKeeper | HostKeeper] = []
_slots: list[int] = []


@celeryd_after_setup.connect
def note_slots(sender, instance, **_):
    _slots.append(instance.concurrency)


@worker_ready.connect
def record_images(**_):
    """The digests of the template images built outside the workers (python-node's)."""
    try:
        images_record(get_sandbox())
    except SandboxError as exc:
        log.error("template images not recorded: %s", exc)


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


def pool_images(pulls: WarmPulls) -> list[str]:
    # The keeper's own thread: a connection broken by a database restart is replaced here.
    close_old_connections()
    images = warm_images()
    pulls(images)  # what this host lacks comes from the registry before the pool needs it
    return images


@worker_ready.connect
def start_pool(**_):
    """The warm pool is kept by the worker's main process, for the whole host's slots: the
    current ready version of each template marked warm (read again on every round)."""
    if settings.CROWNEST_SANDBOX_POOL_SIZE <= 0:
        return
    try:
        sandbox = get_sandbox()
        pulls = WarmPulls(sandbox)
        size = settings.CROWNEST_SANDBOX_POOL_SIZE
        keeper = PoolKeeper(sandbox, lambda: pool_images(pulls), limits_from_settings(), size)
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
