"""Running the artifact collector (collect_tree.py + collect_script.py) and reading what it wrote.

With a disk image (disk.py), on the worker host and without a container: the collector is a
process of the host's Python, running as CROWNEST_COLLECT_UID (a uid that owns nothing on the
host), whose only handle on the run's files is the descriptor of a detached, read-only,
id-mapped mount of the workspace (idmap.py). Nothing can change the files while they are read
(the sandbox has stopped), and the collector never hands the kernel a path of the run's: it looks
every name up on its own with O_NOFOLLOW and follows links itself, within the workspace.

Without a disk image, the same script runs in a container of its own that mounts the workspace
read-only at /workspace (docker.py); this module reads its attached output.

Either way the collector has CROWNEST_COLLECT_SECONDS: it stops its own walk at 80% of them and
reports `timedOut`, and is killed at the bound; meanwhile `beat` keeps the run alive (a collecting
run is a running run, never a lost one)."""

import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from django.conf import settings

from .base import Collected, SandboxError
from .frames import frames
from .idmap import workspace_tree
from .unpack import unpack

HERE = Path(__file__).parent
# One script: how paths are looked up, then the entry (its import of the first part dropped).
SCRIPT = (HERE / "collect_tree.py").read_text() + "".join(
    line
    for line in (HERE / "collect_script.py").read_text().splitlines(keepends=True)
    if not line.startswith("from .collect_tree import")
)
# The host's own Python: the worker's virtualenv may not be readable by the collector's uid, and
# the script needs only the standard library.
PYTHON = "/usr/bin/python3"
REPORT_LIMIT = 4 * 1024 * 1024
SOFT_SHARE = 0.8  # of the bound, for the collector's own walk: the rest is for its report


def request_for(patterns: list[str], limits: dict) -> dict:
    return {"patterns": patterns, **limits, "seconds": limits["seconds"] * SOFT_SHARE}


def supervise(done, stop, seconds: float, beat) -> bool:
    """Wait until `done(timeout)` says the collector has finished, calling `beat` every heartbeat
    meanwhile; at `seconds`, `stop()` it. True when it was stopped."""
    deadline = time.monotonic() + seconds
    every = settings.CROWNEST_HEARTBEAT_SECONDS
    while not done(max(0.0, min(every, deadline - time.monotonic()))):
        if time.monotonic() >= deadline:
            stop()
            done(30)
            return True
        beat()
    return False


def collect_from_device(device: str, patterns, limits: dict, dest_dir: str, *, owner, beat):
    """Collect from the workspace filesystem on `device` (the sandbox has stopped)."""
    uid = settings.CROWNEST_COLLECT_UID
    with (
        workspace_tree(device, owner, uid) as tree,
        tempfile.NamedTemporaryFile(dir=dest_dir, delete=False) as tar_out,
        tempfile.TemporaryFile(dir=dest_dir) as report,
    ):
        proc = subprocess.Popen(
            [PYTHON, "-I", "-c", SCRIPT, json.dumps(request_for(patterns, limits))],
            stdin=subprocess.DEVNULL,
            stdout=tar_out,
            stderr=report,
            env={"CROWNEST_COLLECT_FD": str(tree), "PATH": "/usr/bin:/bin"},
            pass_fds=[tree],
            user=uid,
            group=uid,
            extra_groups=[],
            cwd="/",
        )
        cut = supervise(_exited(proc), proc.kill, limits["seconds"], beat)
        report.seek(0)
        text = report.read(REPORT_LIMIT)
    return collected_from(text, proc.returncode, tar_out.name, dest_dir, cut)


def _exited(proc):
    def done(timeout: float) -> bool:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    return done


def collect_in_container(sandbox, cfg: dict, patterns, limits: dict, dest_dir: str, beat):
    """Without a disk image: the collector in a container of its own (`cfg`: the sandbox's, with
    the workspace mounted read-only), where nothing but the run's files and the template's are."""
    cfg["command"] = ["python3", "-I", "-c", SCRIPT, json.dumps(request_for(patterns, limits))]
    container, sock = sandbox.start_attached(cfg)
    try:
        stop = lambda: sandbox.end_attached(container, kill=True)  # noqa: E731
        tar_path, report, cut = _attached(sock, dest_dir, stop, limits["seconds"], beat)
    finally:
        status = sandbox.end_attached(container)
    return collected_from(report, status, tar_path, dest_dir, cut)


def _attached(sock, dest_dir: str, stop, seconds: float, beat):
    """Read the collector container's output (the tar on stdout, the report on stderr) until it
    ends, stopping it at `seconds`. Returns (tar path, report, cut)."""
    report = bytearray()
    with tempfile.NamedTemporaryFile(dir=dest_dir, delete=False) as tar_out:

        def pump():
            for stream, data in frames(sock):
                if stream == "stdout":
                    tar_out.write(data)
                elif len(report) < REPORT_LIMIT:
                    report.extend(data)

        reader = threading.Thread(target=pump, name="collect-output", daemon=True)
        reader.start()

        def done(timeout: float) -> bool:
            reader.join(timeout)
            return not reader.is_alive()

        cut = supervise(done, stop, seconds, beat)
    sock.close()
    return tar_out.name, bytes(report), cut


def collected_from(report: bytes, status, tar_path: str, dest_dir: str, cut: bool) -> Collected:
    if cut:  # killed at the bound: its tar may end mid-file and it wrote no report
        os.unlink(tar_path)
        return Collected(timed_out=True)
    try:
        parsed = json.loads(report)
    except ValueError as exc:
        os.unlink(tar_path)
        message = report[-500:].decode("utf-8", "replace")
        raise SandboxError(f"collector failed (exit {status}): {message}") from exc
    collected = unpack(tar_path, parsed, dest_dir)
    collected.timed_out = bool(parsed.get("timedOut"))
    return collected
