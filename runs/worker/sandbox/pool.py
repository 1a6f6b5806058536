"""The warm pool: per worker host and template image, a few containers already created with the
run limits and started, each with a fresh workspace of its own, waiting for one run's job.

One keeper thread in the worker's main process fills the pool, replaces containers whose image
is no longer a warm template's current one, and drains the pool when the worker stops. Runs take a
container by renaming it (docker.py `pool_take`): atomic, so no container serves two runs, and
every container is used once. The reaper removes pooled containers whose keeper is gone.

Docker's rename is not a compare-and-swap: two concurrent renames of one pool name both succeed
(the engine resolves the name before it takes the container's lock). So a run first takes the
container with an exclusive file on this host (`claim_take`, O_CREAT|O_EXCL), then renames it."""

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from django.conf import settings

from ops import metrics

from .base import SandboxError

log = logging.getLogger(__name__)
OWNER = f"{socket.gethostname()}:{os.getpid()}"
OWNER_LABEL = "org.crownest.owner"  # host:pid of the keeper
POOL_LABEL = "org.crownest.pool"  # the image id a pooled container was made from
INSTANCE_LABEL = "org.crownest.instance"
PREFIX = "crownest-pool-"


LIMITS_LABEL = "org.crownest.limits"


def fingerprint(limits) -> str:
    """Pooled containers serve runs with exactly the limits (and runtime) they were made with,
    and with the egress folder (egress_mount.py) only where they were made with one."""
    egress = f"egress={settings.CROWNEST_EGRESS_ENABLED}"
    return hashlib.sha256(f"{limits!r} {egress}".encode()).hexdigest()[:16]


def pool_list(sandbox, image_id: str | None = None, limits=None) -> list:
    labels = [f"{POOL_LABEL}={image_id}" if image_id else POOL_LABEL]
    labels.append(f"{INSTANCE_LABEL}={sandbox.instance}")
    if limits is not None:
        labels.append(f"{LIMITS_LABEL}={fingerprint(limits)}")
    return sandbox.containers({"label": labels, "name": PREFIX})


CLAIM_KEEP_SECONDS = 24 * 3600


def _claims(sandbox):
    return sandbox.disks.folder / "claims"


def claim_take(sandbox, container_id: str) -> bool:
    """Whether this caller is the one that takes the container: atomic across the host's
    worker processes (one engine per host, its workers on that host, as the disks assume)."""
    folder = _claims(sandbox)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(folder / container_id, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False
    return True


def claims_prune(sandbox) -> int:
    """Claim files of containers long gone (a pooled container lives minutes, not a day)."""
    folder, removed = _claims(sandbox), 0
    limit = time.time() - CLAIM_KEEP_SECONDS
    for path in folder.glob("*") if folder.is_dir() else []:
        if _mtime(path) < limit:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def pool_take(sandbox, spec):
    """A started container of the spec's image and limits, or None (the run starts cold)."""
    image_id = sandbox.describe_image(spec.image).digest
    for container in pool_list(sandbox, image_id, spec.limits):
        if container.status == "running" and sandbox.claim(container, spec.run_id):
            metrics.pool_take(hit=True)
            return container
    metrics.pool_take(hit=False)
    return None


def pool_add(sandbox, image: str, image_id: str, limits, leftovers: set | None = None) -> None:
    """One more pooled container; a name whose creation failed half-way (the engine went away
    after its workspace was made) goes into `leftovers`, removed once the engine is back."""
    name = f"{PREFIX}{uuid.uuid4().hex[:12]}"
    labels = {POOL_LABEL: image_id, OWNER_LABEL: OWNER, LIMITS_LABEL: fingerprint(limits)}
    try:
        sandbox.create_started(image, limits, name, labels)
    except SandboxError:
        if leftovers is not None:
            leftovers.add(name)
        raise


class PoolKeeper:
    """`images()` names the images to keep warm (sandbox_templates.selectors.warm_images: the
    current version of each template marked warm), asked again on every round, so that a new
    version replaces the old one's containers within a round of becoming ready."""

    def __init__(self, sandbox, images: Callable[[], list[str]], limits, size: int, interval=0.5):
        self.sandbox, self.images, self.limits = sandbox, images, limits
        self.size, self.interval = size, interval
        self.stopping = threading.Event()
        self.thread = None
        self.leftovers: set[str] = set()

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name="sandbox-pool", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread:
            self.thread.join(30)
        self.drain()

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self.fill_once()
            except Exception:  # an engine or database hiccup must not end the keeper
                log.warning("could not fill the sandbox pool", exc_info=True)
            self.stopping.wait(self.interval)

    def wanted(self) -> dict[str, str]:
        """image id -> the reference to create from, for each image to keep warm."""
        found = {}
        for image in self.images():
            try:
                found.setdefault(self.sandbox.describe_image(image).digest, image)
            except SandboxError:
                continue  # not on this engine (yet)
        return found

    def fill_once(self) -> int:
        """Replace stale containers and add missing ones; returns how many were added."""
        for name in list(self.leftovers):
            self.sandbox.remove_named(name)  # raises while the engine is still away
            self.leftovers.discard(name)
        wanted = self.wanted()
        for container in pool_list(self.sandbox):
            if container.labels.get(OWNER_LABEL) != OWNER:
                continue
            stale = container.labels.get(POOL_LABEL) not in wanted
            if stale or container.status != "running":
                self.sandbox.remove_named(container.name)
                metrics.pool_remove("stale")
        added = 0
        for image_id, image in wanted.items():
            ready = pool_list(self.sandbox, image_id, self.limits)
            ready = [c for c in ready if c.status == "running"]
            for _ in range(self.size - len(ready)):
                if self.stopping.is_set():
                    break
                pool_add(self.sandbox, image, image_id, self.limits, self.leftovers)
                added += 1
        return added

    def drain(self) -> None:
        for container in pool_list(self.sandbox):
            if container.labels.get(OWNER_LABEL) == OWNER:
                self.sandbox.remove_named(container.name)
                metrics.pool_remove("drain")


def orphan_workspaces(sandbox, grace_seconds: float = 120) -> list[str]:
    """Pool workspaces (volume and disk image) that no container uses any more: left when a
    pooled container vanished with its engine (a dockerd restart) before it was drained. A
    workspace is made before its container, so only images older than the grace are taken."""
    used = {
        c.labels.get("org.crownest.volume", "")
        for c in sandbox.containers({"label": INSTANCE_LABEL})
    }
    now = time.time()
    names = {
        n
        for n in sandbox.disks.names()
        if n.startswith(PREFIX) and now - _mtime(sandbox.disks.image(n)) > grace_seconds
    }
    return sorted(n.removesuffix("-workspace") for n in names - used)


def _mtime(path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


def orphans(sandbox) -> list:
    """Pooled containers whose keeper (a worker process on this host) is gone, each claimed for
    removal: a live worker's run may take a dead keeper's container (pool_take), so the reaper
    takes the same exclusive claim first and leaves one a run has claimed."""
    host = socket.gethostname()
    gone = []
    for container in pool_list(sandbox):
        owner_host, _, pid = container.labels.get(OWNER_LABEL, "").partition(":")
        if owner_host == host and pid.isdigit() and not _alive(int(pid)):
            if claim_take(sandbox, container.id):
                gone.append(container)
    return gone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
