"""The Docker sandbox. One container per run: its bootstrap (bootstrap_script.py) takes the job and
the verified archive on stdin, extracts it as the sandbox user and execs the command. Made ahead by
pool.py, claimed by renaming; host_collect.py collects artifacts; transfer.py moves images to and
from the registry. Only sandbox/ imports docker (also docker_execution.py, images.py)."""

import contextlib
import json
import logging
import os
import socket
from pathlib import Path

import docker
from django.conf import settings
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import LogConfig

from . import base
from .base import Collected, DiskFull, ImageInfo, RunSpec, SandboxError, sandbox_name
from .disk import LoopDisks, size_bytes, usable
from .docker_execution import DockerExecution
from .frames import Extraction
from .host_collect import collect_from_device, collect_in_container
from .idmap import IdmapUnavailable
from .pool import claim_take, pool_take
from .transfer import ENGINE_ERRORS, ImageTransfer

log = logging.getLogger(__name__)

LABEL = "org.crownest.run"
DISK = "org.crownest.disk"
VOLUME = "org.crownest.volume"
INSTANCE = "org.crownest.instance"
BOOTSTRAP = (Path(__file__).parent / "bootstrap_script.py").read_text()


def _raw_socket(sock):
    # docker-py hands back a SocketIO (unix) or a socket; we need the socket for shutdown().
    return getattr(sock, "_sock", sock)


def _gone_ok(action, **kwargs) -> None:
    """Removal is idempotent: something already gone is fine."""
    with contextlib.suppress(NotFound):
        action(**kwargs)


class DockerSandbox(ImageTransfer):
    def __init__(self):
        self.instance = settings.CROWNEST_INSTANCE
        host = settings.CROWNEST_WORKER_HOST  # hosts sharing a filesystem never see each other's
        self.disks = LoopDisks(Path(settings.CROWNEST_SANDBOX_DISK_DIR) / self.instance / host)
        self._running: dict[str, tuple] = {}  # run id -> (container, extraction)
        try:
            self.client = docker.from_env(timeout=120)
        except ENGINE_ERRORS as exc:
            raise SandboxError(f"Docker engine unavailable: {exc}") from exc

    def ping(self) -> None:
        try:
            self.client.ping()
        except ENGINE_ERRORS as exc:
            raise SandboxError(str(exc)) from exc

    def describe_image(self, image: str) -> ImageInfo:
        try:
            img = self.client.images.get(image)
        except ImageNotFound as exc:
            raise SandboxError(f"template image {image} is not built") from exc
        except ENGINE_ERRORS as exc:
            raise SandboxError(str(exc)) from exc
        labels = img.attrs.get("Config", {}).get("Labels") or {}
        return ImageInfo(
            image=image,
            digest=img.id,
            python=labels.get("org.crownest.python", ""),
            node=labels.get("org.crownest.node", ""),
        )

    def _config(self, image: str, lim, volume: str, labels: dict, **extra) -> dict:
        return {
            "image": image,
            "labels": {INSTANCE: self.instance, VOLUME: volume, **labels},
            "user": lim.user,
            "working_dir": "/workspace",
            "network_mode": "bridge" if lim.network else "none",
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "read_only": True,
            "tmpfs": base.tmpfs_mounts(lim),
            "volumes": {volume: {"bind": "/workspace", "mode": "rw"}},
            "pids_limit": lim.pids,
            "mem_limit": lim.memory,
            "memswap_limit": lim.memory,
            "nano_cpus": int(lim.cpus * 1e9),
            "cpuset_cpus": base.cpuset(lim.cpus, os.cpu_count() or 1),
            "init": True,
            "runtime": lim.runtime or None,
            # Output is read from the attach stream; a second copy in Docker's log is waste.
            "log_config": LogConfig(type=LogConfig.types.NONE),
            "environment": base.SANDBOX_ENV,
            **extra,
        }

    def _workspace(self, name: str, limits, labels: dict) -> None:
        options = {}
        if limits.disk:
            problem = usable()
            if problem:
                raise SandboxError(f"cannot bound the workspace disk: {problem}")
            owner = limits.user if ":" in limits.user else f"{limits.user}:0"
            device = self.disks.create(name, size_bytes(limits.disk), owner)
            options = {"driver": "local", "driver_opts": {"type": "ext4", "device": device}}
            labels = {**labels, DISK: device}
        try:
            self.client.volumes.create(
                name=name, labels={INSTANCE: self.instance, **labels}, **options
            )
        except ENGINE_ERRORS as exc:
            self.disks.destroy(name)
            raise SandboxError(f"could not create the workspace: {exc}") from exc

    def create_started(self, image: str, limits, name: str, labels: dict):
        """A started container waiting for its job, with a fresh workspace of its own."""
        volume = f"{name}-workspace"
        self._workspace(volume, limits, labels)
        cfg = self._config(image, limits, volume, labels, name=name, stdin_open=True)
        cfg["command"] = ["python3", "-c", BOOTSTRAP]
        try:
            # stdin_open without detach makes docker-py set StdinOnce: when the run's attach
            # half-closes its socket, the bootstrap sees the end of the archive.
            container = self.client.containers.create(**cfg)
            container.start()
        except ENGINE_ERRORS as exc:
            self.remove_named(name)
            raise SandboxError(f"could not start the sandbox: {exc}") from exc
        return container

    def claim(self, container, run_id: str) -> bool:
        """Take a pooled container: an exclusive claim first (pool.py), then its run's name."""
        if not claim_take(self, container.id):
            return False
        try:
            self.client.api.rename(container.name, sandbox_name(run_id))
        except ENGINE_ERRORS:
            return False
        return True

    def prepare(self, spec: RunSpec) -> str:
        from_pool = pool_take(self, spec) if settings.CROWNEST_SANDBOX_POOL_SIZE else None
        name = sandbox_name(spec.run_id)
        container = from_pool or self.create_started(
            spec.image, spec.limits, name, {LABEL: spec.run_id}
        )
        self._running[spec.run_id] = (container, None)
        return name

    def extract(self, spec: RunSpec, archive, on_progress) -> int | None:
        container = self._container(spec.run_id)
        params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        try:
            sock = _raw_socket(self.client.api.attach_socket(container.id, params=params))
        except ENGINE_ERRORS as exc:
            raise SandboxError(f"could not attach to the sandbox: {exc}") from exc
        sock.settimeout(None)  # a silent command must not look like a dead socket
        job = {"argv": spec.argv, "env": spec.env}
        done = 0
        try:
            sock.sendall(json.dumps(job).encode() + b"\n")
            while chunk := archive.read(256 * 1024):
                sock.sendall(chunk)
                done += len(chunk)
                on_progress(done, None)
            sock.shutdown(socket.SHUT_WR)  # the bootstrap sees the end of the archive
        except OSError as exc:
            log.warning("the sandbox closed its input early: %s", exc)
        extraction = Extraction(sock)
        self._running[spec.run_id] = (container, extraction)
        if not extraction.wait_for_mark():
            self._extraction_failed(spec, container, extraction)
        on_progress(done, None)
        return None

    def _extraction_failed(self, spec, container, extraction) -> None:
        code = container.wait()["StatusCode"]
        message = extraction.complaint()
        if "No space left on device" in message:
            raise DiskFull(
                f"The archive does not fit in the workspace ({spec.limits.disk} disk limit): "
                "extraction ran out of space."
            )
        raise SandboxError(f"extraction failed (exit {code}): {message}")

    def execute(self, spec: RunSpec) -> DockerExecution:
        container, extraction = self._running[spec.run_id]
        return DockerExecution(container, extraction)

    def _container(self, run_id: str):
        known = self._running.get(run_id)
        if known:
            return known[0]
        try:
            return self.client.containers.get(sandbox_name(run_id))
        except ENGINE_ERRORS as exc:
            raise SandboxError(f"the sandbox of {run_id} is gone: {exc}") from exc

    def _volume(self, run_id: str):
        container = self._container(run_id)
        return self.client.volumes.get(container.labels[VOLUME])

    def disk_full(self, run_id: str) -> bool:
        """Whether the run's workspace filesystem is (nearly) full: read from its superblock
        while no container has it mounted."""
        try:
            device = (self._volume(run_id).attrs.get("Labels") or {}).get(DISK)
        except (DockerException, SandboxError, KeyError):
            return False
        return bool(device) and self.disks.is_full(device)

    def collect(self, spec: RunSpec, patterns, limits, dest_dir, beat) -> Collected:
        volume = self._volume(spec.run_id)
        device = (volume.attrs.get("Labels") or {}).get(DISK)
        if device:
            try:
                return collect_from_device(
                    device, patterns, limits, dest_dir, owner=spec.limits.user, beat=beat
                )
            except IdmapUnavailable as exc:
                log.warning("collecting in a container: %s", exc)
        cfg = self._config(spec.image, spec.limits, volume.name, {LABEL: spec.run_id})
        cfg["volumes"][volume.name]["mode"] = "ro"
        return collect_in_container(self, cfg, patterns, limits, dest_dir, beat)

    def start_attached(self, cfg: dict):
        """Create and start a container with its output attached before start."""
        try:
            container = self.client.containers.create(**cfg)
            params = {"stdout": 1, "stderr": 1, "stream": 1}
            sock = _raw_socket(self.client.api.attach_socket(container.id, params=params))
            container.start()
        except ENGINE_ERRORS as exc:
            raise SandboxError(f"could not start a sandbox container: {exc}") from exc
        return container, sock

    def end_attached(self, container, *, kill: bool = False) -> int | None:
        """Kill a container of start_attached (when asked), or wait for it: its exit status."""
        if kill:
            with contextlib.suppress(*ENGINE_ERRORS):  # it may have ended meanwhile
                container.kill()
            return None
        try:
            return container.wait(timeout=60)["StatusCode"]
        except ENGINE_ERRORS as exc:
            raise SandboxError(f"the collector container failed: {exc}") from exc
        finally:
            _gone_ok(container.remove, force=True)

    def kill(self, run_id: str) -> None:
        with contextlib.suppress(NotFound, APIError):
            self.client.containers.get(sandbox_name(run_id)).kill()

    def remove(self, run_id: str) -> None:
        self._running.pop(run_id, None)
        self.remove_named(sandbox_name(run_id), run_id)

    def remove_named(self, name: str, run_id: str = "") -> None:
        volumes = {f"{name}-workspace"}
        try:
            found = self.containers({"name": f"^/?{name}$"})
            if run_id:
                found += self.containers({"label": f"{LABEL}={run_id}"})
            for container in {c.id: c for c in found}.values():
                volumes.add(container.labels.get(VOLUME, ""))
                _gone_ok(container.remove, force=True)
            for volume in filter(None, volumes):
                _gone_ok(lambda v=volume: self.client.volumes.get(v).remove(force=True))
        except ENGINE_ERRORS as exc:
            raise SandboxError(f"could not remove the sandbox: {exc}") from exc
        for volume in filter(None, volumes):
            self.disks.destroy(volume)

    def containers(self, filters: dict) -> list:
        """containers.list(all=True) without its race: docker-py inspects each container it
        listed, and one removed meanwhile (a run ending) failed the whole call."""
        found = []
        for row in self.client.api.containers(all=True, filters=filters):
            with contextlib.suppress(NotFound):
                found.append(self.client.containers.get(row["Id"]))
        return found

    def run_ids(self) -> set[str]:
        """Runs that still have a container, volume or disk of this instance on this engine."""
        prefix = sandbox_name("")
        mine = {"label": f"{INSTANCE}={self.instance}"}
        names = {c.name for c in self.containers(mine)}
        names |= {v.name.removesuffix("-workspace") for v in self.client.volumes.list(filters=mine)}
        names |= {n.removesuffix("-workspace") for n in self.disks.names()}
        return {n[len(prefix) :] for n in names if n.startswith(prefix)}
