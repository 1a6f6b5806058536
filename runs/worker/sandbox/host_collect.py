"""Collecting artifacts without a container: the run's workspace filesystem (its ext4 image,
see disk.py) is mounted read-only on the worker host once the sandbox has stopped, and the same
collector script that used to run in a container walks it as the sandbox user.

Safe because nothing can change the filesystem while it is walked (the container is stopped,
the mount is read-only, nosuid, nodev, noexec), so resolving a path and opening it see the same
tree; the script refuses anything that resolves outside the mount (a symlink to /etc/passwd
resolves on the host and is refused), and it opens files with O_NOFOLLOW. The image's metadata
was only ever written by the kernel's own ext4 driver on behalf of the sandbox."""

import json
import subprocess
import tempfile
from pathlib import Path

from .base import Collected, SandboxError
from .frames import frames
from .unpack import unpack

SCRIPT = Path(__file__).with_name("collect_script.py").read_text()
# The host's own Python, run as the sandbox user: the worker's virtualenv may not be readable
# by that user, and the script needs only the standard library.
PYTHON = "/usr/bin/python3"


def collect_from_device(device: str, request: dict, dest_dir: str, user: str) -> Collected:
    mountpoint = tempfile.mkdtemp(prefix="crownest-collect-")
    uid, _, gid = user.partition(":")
    try:
        _mount(device, mountpoint)
        try:
            with tempfile.NamedTemporaryFile(dir=dest_dir, delete=False) as tar_out:
                done = subprocess.run(
                    [PYTHON, "-I", "-c", SCRIPT, json.dumps(request)],
                    env={"CROWNEST_COLLECT_ROOT": mountpoint, "PATH": "/usr/bin:/bin"},
                    stdout=tar_out,
                    stderr=subprocess.PIPE,
                    user=int(uid),
                    group=int(gid or uid),
                    extra_groups=[],
                    timeout=600,
                    check=False,
                )
        finally:
            subprocess.run(["umount", mountpoint], capture_output=True, check=False)
    finally:
        Path(mountpoint).rmdir()
    return _report(done.stderr, done.returncode, tar_out.name, dest_dir)


def _mount(device: str, mountpoint: str) -> None:
    done = subprocess.run(
        ["mount", "-t", "ext4", "-o", "ro,nosuid,nodev,noexec,noload", device, mountpoint],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SandboxError(f"cannot mount the workspace to collect artifacts: {done.stderr[:300]}")


def collect_in_container(sandbox, cfg: dict, dest_dir: str) -> Collected:
    """Without a disk image (no disk limit): the collector script in a container of its own,
    the workspace mounted read-only."""
    container, sock = sandbox.start_attached(cfg)
    report = b""
    with tempfile.NamedTemporaryFile(dir=dest_dir, delete=False) as tar_out:
        for stream, data in frames(sock):
            if stream == "stdout":
                tar_out.write(data)
            elif len(report) < 4 * 1024 * 1024:
                report += data
    sock.close()
    status = container.wait()["StatusCode"]
    container.remove(force=True)
    return _report(report, status, tar_out.name, dest_dir)


def _report(report: bytes, status: int, tar_path: str, dest_dir: str) -> Collected:
    try:
        parsed = json.loads(report)
    except ValueError as exc:
        message = report[-500:].decode("utf-8", "replace")
        raise SandboxError(f"collector failed (exit {status}): {message}") from exc
    return unpack(tar_path, parsed, dest_dir)
