"""The sandbox interface. Only runs/sandbox/docker.py talks to Docker; everything else uses this."""

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

# What a normal user's shell has: a home it owns, its name, a UTF-8 locale, a temp folder.
SANDBOX_ENV = {
    "HOME": "/home/sandbox",
    "USER": "sandbox",
    "LOGNAME": "sandbox",
    "LANG": "C.UTF-8",
    "TMPDIR": "/tmp",
}
_next_cpu = itertools.count()


def tmpfs_mounts(limits) -> dict:
    """/tmp (sticky, for everyone) and $HOME (the sandbox user's own, mode 0700), each bounded
    by tmp_size. Docker mounts tmpfs noexec and root-owned by default; builds and test runners
    execute files in /tmp, and tools write caches and logs under $HOME."""
    uid, _, gid = limits.user.partition(":")
    base = f"rw,exec,nosuid,nodev,size={limits.tmp_size}"
    home = f"{base},mode=0700,uid={uid},gid={gid or uid}"
    return {"/tmp": f"{base},mode=1777", "/home/sandbox": home}


def cpuset(cpus: float, host_cpus: int) -> str | None:
    """With a whole number of CPUs, the CPUs the container may run on, so that `nproc` and
    os.cpu_count()-style tools see the limit (they read the affinity mask, not the CPU quota).
    Successive sandboxes start on successive CPUs so that runs spread over the host."""
    whole = int(cpus)
    if whole != cpus or whole < 1 or whole >= host_cpus:
        return None
    first = next(_next_cpu) % host_cpus
    return ",".join(str((first + i) % host_cpus) for i in range(whole))


def sandbox_name(run_id: str) -> str:
    """The sandbox id of a run: its container's name, recorded on the run."""
    return f"crownest-run-{run_id}"


class SandboxError(Exception):
    """The sandbox could not do what was asked (engine down, image missing, container gone)."""


class DiskFull(SandboxError):
    """The run's workspace filled up (its disk limit) while the sandbox was writing to it."""


@dataclass(frozen=True)
class Limits:
    memory: str
    cpus: float
    pids: int
    tmp_size: str
    network: bool
    user: str
    disk: str = ""  # the workspace's size ("2g"); "" leaves it unbounded
    runtime: str = ""  # the OCI runtime ("runsc"); "" is the engine's default


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    image: str
    argv: list[str]
    env: dict[str, str]
    limits: Limits


@dataclass(frozen=True)
class ImageInfo:
    image: str
    digest: str
    python: str = ""
    node: str = ""


@dataclass(frozen=True)
class ExitInfo:
    exit_code: int
    oom_killed: bool


@dataclass(frozen=True)
class CollectedFile:
    path: str  # relative to /workspace
    local_path: str  # a temp file on the worker
    size_bytes: int
    sha256: str  # taken while the file was written out, so it is never read twice


@dataclass
class Collected:
    files: list[CollectedFile] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)  # {path, code, message}
    timed_out: bool = False  # the collector reached CROWNEST_COLLECT_SECONDS and was cut


class Execution(Protocol):
    def output(self) -> Iterator[tuple[str, bytes]]:
        """("stdout"|"stderr", bytes) in the order written; ends when the command exits."""

    def wait(self) -> ExitInfo: ...

    def stop(self, grace_seconds: int) -> None: ...


class Sandbox(Protocol):
    def ping(self) -> None:
        """Raise SandboxError unless the engine answers."""

    def describe_image(self, image: str) -> ImageInfo: ...

    def prepare(self, spec: RunSpec) -> str:
        """Create the run's workspace; returns the sandbox id (sandbox_name) to record."""

    def extract(
        self, spec: RunSpec, archive: BinaryIO, on_progress: Callable[[int, int], None]
    ) -> int:
        """Stream a verified .tar.gz into /workspace as the sandbox user; returns the file count."""

    def execute(self, spec: RunSpec) -> Execution: ...

    def collect(
        self,
        spec: RunSpec,
        patterns: list[str],
        limits: dict,
        dest_dir: str,
        beat: Callable[[], None],
    ) -> Collected:
        """The files the patterns name, within limits["seconds"]; `beat` is called every
        heartbeat while that lasts."""

    def remove(self, run_id: str) -> None:
        """Remove every container and volume of the run. Idempotent."""

    def kill(self, run_id: str) -> None: ...

    def disk_full(self, run_id: str) -> bool:
        """Whether the run's workspace is full (its disk limit reached)."""

    def run_ids(self) -> set[str]:
        """Run ids that still have containers or volumes on this engine."""

    def egress_dir(self, run_id: str) -> str:
        """The host folder mounted read-only at /run/crownest-egress in the run's container,
        where the egress proxy puts the run's socket and CA bundle (runs/egress)."""
