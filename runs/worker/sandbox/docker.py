"""The Docker sandbox: the only module that imports docker.

Three short-lived containers share one volume per run: an extractor (tar reading the verified
archive from stdin), the command itself (its main process, so an OOM kill shows in its state)
and, when artifacts are asked for, a collector with the volume mounted read-only.
"""

import json
import logging
import socket
import tempfile
import threading
from pathlib import Path

import docker
from django.conf import settings
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import LogConfig
from docker.utils.socket import frames_iter

from .base import (
    Collected,
    DiskFull,
    ExitInfo,
    ImageInfo,
    RunSpec,
    SandboxError,
    sandbox_name,
)
from .disk import LoopDisks, size_bytes, usable
from .unpack import unpack

log = logging.getLogger(__name__)

LABEL = "org.crownest.run"
DISK = "org.crownest.disk"
ROLE = "org.crownest.role"
INSTANCE = "org.crownest.instance"
STREAMS = {1: "stdout", 2: "stderr"}
COLLECT_SCRIPT = (Path(__file__).with_name("collect_script.py")).read_text()


def container_name(run_id: str, role: str = "") -> str:
    return sandbox_name(run_id) + (f"-{role}" if role else "")


def volume_name(run_id: str) -> str:
    return f"{sandbox_name(run_id)}-workspace"


def _raw_socket(sock):
    # docker-py hands back a SocketIO (unix) or a socket; we need the socket for shutdown().
    return getattr(sock, "_sock", sock)


class DockerExecution:
    def __init__(self, sandbox, container, sock):
        self._sandbox = sandbox
        self._container = container
        self._sock = sock

    def output(self):
        try:
            for stream, data in frames_iter(self._sock, tty=False):
                if stream in STREAMS and data:
                    yield STREAMS[stream], data
        except OSError:
            return  # the container was killed under us: the stream simply ends
        finally:
            self._sock.close()

    def wait(self) -> ExitInfo:
        try:
            result = self._container.wait()
            self._container.reload()
        except DockerException as exc:
            raise SandboxError(f"lost the sandbox: {exc}") from exc
        state = self._container.attrs["State"]
        return ExitInfo(exit_code=result["StatusCode"], oom_killed=bool(state.get("OOMKilled")))

    def stop(self, grace_seconds: int) -> None:
        try:
            self._container.stop(timeout=grace_seconds)
        except NotFound:
            pass


class DockerSandbox:
    def __init__(self):
        self.instance = settings.CROWNEST_INSTANCE
        self.disks = LoopDisks(Path(settings.CROWNEST_SANDBOX_DISK_DIR) / self.instance)
        try:
            self.client = docker.from_env(timeout=120)
        except DockerException as exc:
            raise SandboxError(f"Docker engine unavailable: {exc}") from exc

    def ping(self) -> None:
        try:
            self.client.ping()
        except DockerException as exc:
            raise SandboxError(str(exc)) from exc

    def describe_image(self, image: str) -> ImageInfo:
        try:
            img = self.client.images.get(image)
        except ImageNotFound as exc:
            raise SandboxError(f"template image {image} is not built") from exc
        except DockerException as exc:
            raise SandboxError(str(exc)) from exc
        labels = img.attrs.get("Config", {}).get("Labels") or {}
        return ImageInfo(
            image=image,
            digest=img.id,
            python=labels.get("org.crownest.python", ""),
            node=labels.get("org.crownest.node", ""),
        )

    def _config(self, spec: RunSpec, role: str, *, workspace_mode: str = "rw") -> dict:
        lim = spec.limits
        # Docker mounts tmpfs noexec by default; builds and test runners execute files in /tmp.
        tmpfs_opts = f"rw,exec,nosuid,nodev,size={lim.tmp_size},mode=1777"
        return {
            "image": spec.image,
            "name": container_name(spec.run_id, "" if role == "command" else role),
            "labels": {LABEL: spec.run_id, ROLE: role, INSTANCE: self.instance},
            "user": lim.user,
            "working_dir": "/workspace",
            "network_mode": "bridge" if lim.network else "none",
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "read_only": True,
            "tmpfs": {"/tmp": tmpfs_opts, "/home/sandbox": tmpfs_opts},
            "volumes": {volume_name(spec.run_id): {"bind": "/workspace", "mode": workspace_mode}},
            "pids_limit": lim.pids,
            "mem_limit": lim.memory,
            "memswap_limit": lim.memory,
            "nano_cpus": int(lim.cpus * 1e9),
            "init": True,
            "runtime": lim.runtime or None,
            # Output is read from the attach stream; a second copy in Docker's log is waste.
            "log_config": LogConfig(type=LogConfig.types.NONE),
            "environment": {"HOME": "/home/sandbox", **spec.env},
        }

    def _attached(self, container, *, stdin: bool = False):
        params = {"stdout": 1, "stderr": 1, "stream": 1, "stdin": 1 if stdin else 0}
        sock = self.client.api.attach_socket(container.id, params=params)
        raw = _raw_socket(sock)
        raw.settimeout(None)  # a silent command must not look like a dead socket
        return raw

    def prepare(self, spec: RunSpec) -> str:
        name = volume_name(spec.run_id)
        labels = {LABEL: spec.run_id, INSTANCE: self.instance}
        options = {}
        if spec.limits.disk:
            problem = usable()
            if problem:
                raise SandboxError(f"cannot bound the workspace disk: {problem}")
            uid_gid = spec.limits.user if ":" in spec.limits.user else f"{spec.limits.user}:0"
            device = self.disks.create(name, size_bytes(spec.limits.disk), uid_gid)
            options = {"driver": "local", "driver_opts": {"type": "ext4", "device": device}}
            labels[DISK] = device
        try:
            self.client.volumes.create(name=name, labels=labels, **options)
        except DockerException as exc:
            self.disks.destroy(name)
            raise SandboxError(f"could not create the workspace: {exc}") from exc
        return sandbox_name(spec.run_id)

    def disk_full(self, run_id: str) -> bool:
        """Whether the run's workspace filesystem is (nearly) full: read from its superblock
        while no container has it mounted."""
        try:
            volume = self.client.volumes.get(volume_name(run_id))
        except DockerException:
            return False
        device = (volume.attrs.get("Labels") or {}).get(DISK)
        return bool(device) and self.disks.is_full(device)

    def extract(self, spec: RunSpec, archive, on_progress) -> int:
        cfg = self._config(spec, "extract")
        tar = ["tar", "-xzvf", "-", "-C", "/workspace", "--no-same-owner"]
        tar += ["--no-same-permissions", "--delay-directory-restore"]
        cfg.update(command=tar, stdin_open=True)
        try:
            # stdin_open without detach makes docker-py set StdinOnce: when we half-close the
            # socket the container's stdin closes and tar sees the end of the archive.
            container = self.client.containers.create(**cfg)
            sock = self._attached(container, stdin=True)
            container.start()
        except DockerException as exc:
            raise SandboxError(f"could not start the extractor: {exc}") from exc
        counts = {"files": 0, "err": b""}

        def read():
            for stream, data in frames_iter(sock, tty=False):
                if stream == 1:
                    counts["files"] += data.count(b"\n")
                elif len(counts["err"]) < 4096:
                    counts["err"] += data

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        done = 0
        try:
            while chunk := archive.read(256 * 1024):
                sock.sendall(chunk)
                done += len(chunk)
                on_progress(done, counts["files"])
            sock.shutdown(socket.SHUT_WR)  # tar sees the end of its input
        except OSError as exc:
            log.warning("extractor closed its input early: %s", exc)
        reader.join()
        sock.close()
        result = container.wait()
        container.remove(force=True)
        if result["StatusCode"] != 0:
            message = counts["err"].decode("utf-8", "replace").strip()[-500:]
            if "No space left on device" in message:
                raise DiskFull(
                    f"The archive does not fit in the workspace ({spec.limits.disk} disk limit): "
                    "extraction ran out of space."
                )
            raise SandboxError(f"extraction failed (exit {result['StatusCode']}): {message}")
        on_progress(done, counts["files"])
        return counts["files"]

    def execute(self, spec: RunSpec) -> DockerExecution:
        cfg = self._config(spec, "command")
        cfg["command"] = spec.argv
        try:
            container = self.client.containers.create(**cfg)
            sock = self._attached(container)
            container.start()
        except DockerException as exc:
            raise SandboxError(f"could not start the sandbox: {exc}") from exc
        return DockerExecution(self, container, sock)

    def collect(self, spec: RunSpec, patterns, limits, dest_dir) -> Collected:
        request = {"patterns": patterns, **limits}
        cfg = self._config(spec, "collect", workspace_mode="ro")
        cfg["command"] = ["python3", "-c", COLLECT_SCRIPT, json.dumps(request)]
        try:
            container = self.client.containers.create(**cfg)
            sock = self._attached(container)
            container.start()
        except DockerException as exc:
            raise SandboxError(f"could not start the collector: {exc}") from exc
        report = b""
        with tempfile.NamedTemporaryFile(dir=dest_dir, delete=False) as tar_out:
            for stream, data in frames_iter(sock, tty=False):
                if stream == 1:
                    tar_out.write(data)
                elif len(report) < 4 * 1024 * 1024:
                    report += data
        sock.close()
        status = container.wait()["StatusCode"]
        container.remove(force=True)
        try:
            parsed = json.loads(report)
        except ValueError as exc:
            raise SandboxError(
                f"collector failed (exit {status}): {report[-500:].decode('utf-8', 'replace')}"
            ) from exc
        return unpack(tar_out.name, parsed, dest_dir)

    def kill(self, run_id: str) -> None:
        try:
            self.client.containers.get(container_name(run_id)).kill()
        except (NotFound, APIError):
            pass

    def remove(self, run_id: str) -> None:
        try:
            for c in self.client.containers.list(all=True, filters={"label": f"{LABEL}={run_id}"}):
                c.remove(force=True)
            for v in self.client.volumes.list(filters={"label": f"{LABEL}={run_id}"}):
                v.remove(force=True)
        except NotFound:
            pass
        except DockerException as exc:
            raise SandboxError(f"could not remove the sandbox: {exc}") from exc
        self.disks.destroy(volume_name(run_id))

    def run_ids(self) -> set[str]:
        mine = {"label": [LABEL, f"{INSTANCE}={self.instance}"]}
        containers = self.client.containers.list(all=True, filters=mine)
        volumes = self.client.volumes.list(filters=mine)
        ids = {c.labels.get(LABEL) for c in containers}
        ids |= {(v.attrs.get("Labels") or {}).get(LABEL) for v in volumes}
        prefix, suffix = sandbox_name(""), "-workspace"
        ids |= {n[len(prefix) : -len(suffix)] for n in self.disks.names() if n.endswith(suffix)}
        return {i for i in ids if i}
