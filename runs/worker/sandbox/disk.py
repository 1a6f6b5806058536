"""A run's /workspace as a filesystem of its own: a sparse ext4 image on the Docker host, attached
to a loop device and handed to Docker as the run's volume (local driver, type=ext4). Writes past
its size fail with ENOSPC inside the sandbox, and the host loses at most that size per run.

Why this and not the alternatives (docs/architecture.md, "Disk limit"): Docker's
`--storage-opt size` needs XFS project quotas under the data root (this host's is ext4); a tmpfs
volume would hold the workspace in RAM and is unmounted between the run's containers. The image
is created, attached and removed by the worker, so the worker runs on its engine's host as root.
"""

import os
import re
import subprocess
from pathlib import Path

from .base import SandboxError

SIZE = re.compile(r"^(\d+)([kmgt]?)i?b?$", re.IGNORECASE)
UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def size_bytes(text: str) -> int:
    match = SIZE.match(str(text).strip())
    if not match:
        raise ValueError(f"not a size: {text!r} (use e.g. 512m, 2g)")
    return int(match.group(1)) * UNITS[match.group(2).lower()]


def _run(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"{argv[0]} failed: {exc}") from exc
    if done.returncode != 0:
        raise SandboxError(f"{argv[0]} failed: {done.stderr.strip()[:300]}")
    return done.stdout.strip()


class LoopDisks:
    """Images under `folder` (one per run, named after its volume)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def image(self, name: str) -> Path:
        return self.folder / f"{name}.img"

    def create(self, name: str, size: int, owner: str) -> str:
        """A fresh filesystem of `size` bytes owned by `owner` (uid:gid); returns the device."""
        self.folder.mkdir(parents=True, exist_ok=True)
        image = self.image(name)
        with open(image, "wb") as fh:  # sparse: blocks are taken only as the run writes
            fh.truncate(size)
        try:
            # No journal: a workspace lives for one run; lazy init keeps creation at ~20 ms.
            _run(
                "mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal",
                "-E", f"root_owner={owner},lazy_itable_init=1", "-L", "workspace", str(image),
            )  # fmt: skip
            # lost+found would show up in /workspace (and in artifact globs).
            _run("debugfs", "-w", "-R", "rmdir lost+found", str(image))
            return _run("losetup", "--find", "--show", str(image))
        except SandboxError:
            image.unlink(missing_ok=True)
            raise

    def destroy(self, name: str) -> None:
        """Detach every loop device of the image and delete it. Idempotent."""
        image = self.image(name)
        if not image.exists():
            return
        listing = _run("losetup", "--associated", str(image), "--output", "NAME", "--noheadings")
        for device in listing.split():
            _run("losetup", "--detach", device)
        image.unlink(missing_ok=True)

    def names(self) -> set[str]:
        if not self.folder.is_dir():
            return set()
        return {p.stem for p in self.folder.glob("*.img")}

    def is_full(self, device: str) -> bool:
        """Whether an unmounted workspace is full, from its superblock. ext4 keeps a pool of
        up to 2% (at most 4096 blocks) back for delayed allocation, so a write fails with ENOSPC
        while that much still shows as free."""
        try:
            header = _run("dumpe2fs", "-h", device)
        except SandboxError:
            return False
        fields = dict(line.split(":", 1) for line in header.splitlines() if ":" in line)
        try:
            block = int(fields["Block size"])
            total, free = int(fields["Block count"]), int(fields["Free blocks"])
            free_inodes = int(fields["Free inodes"])
        except (KeyError, ValueError):
            return False
        held_back = min(total // 50, 4096) * block
        return free_inodes == 0 or free * block <= held_back + (1 << 20)


def usable() -> str:
    """Why loop disks cannot work here, or "" when they can."""
    if os.geteuid() != 0:
        return "the worker must run as root on its Docker host to attach loop devices"
    if not Path("/dev/loop-control").exists():
        return "this host has no loop devices (/dev/loop-control)"
    return ""
