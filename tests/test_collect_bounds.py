"""Artifact collection's own bounds and its two ways of running: the time bound (the run keeps its
real outcome, plus an `error` collect_timeout), the entries bound, the collector in a container
(no disk image), and on the host the id-mapped, detached mount and the collector's uid."""

import subprocess
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.test import override_settings

from runs import tasks
from runs.worker.sandbox import SandboxError
from runs.worker.sandbox.disk import LoopDisks
from runs.worker.sandbox.host_collect import supervise
from runs.worker.sandbox.idmap import workspace_tree

from .helpers import to_queue, worker_process

pytestmark = pytest.mark.docker
SLOW_QUEUE = "crownest-test-collect-slow"
NODISK_QUEUE = "crownest-test-collect-nodisk"
HOSTILE = (
    "ln -s / root && mkfifo f && mkdir -p out sub && echo x > sub/x.txt && "
    "ln -s /workspace/sub/x.txt abs && "
    "python3 -c \"open(b'out/bad\\xff.txt', 'w').write('b'); "
    "import socket; socket.socket(socket.AF_UNIX).bind('out/sock')\""
)


@pytest.fixture(scope="module")
def slow_worker(live_worker, tmp_path_factory):
    """A worker whose collection bound no collector can meet."""
    env = {"CROWNEST_COLLECT_SECONDS": "0.001"}
    with worker_process(SLOW_QUEUE, tmp_path_factory.mktemp("slow"), env, concurrency=1):
        yield


@pytest.fixture(scope="module")
def nodisk_worker(live_worker, tmp_path_factory):
    """A worker without disk images: the collector runs in a container of its own."""
    env = {"CROWNEST_SANDBOX_DISK": "", "CROWNEST_COLLECT_MAX_ENTRIES": "300"}
    with worker_process(NODISK_QUEUE, tmp_path_factory.mktemp("nodisk"), env, concurrency=1):
        yield


def on(queue):
    return mock.patch.object(tasks.execute_run, "delay_on_commit", to_queue(queue))


def codes(runs, run_id, kind="artifact_error") -> dict:
    return {e["data"]["path"]: e["data"]["code"] for e in runs.events(run_id) if e["type"] == kind}


@pytest.mark.parametrize(
    ("command", "status", "exit_code"), [("exit 3", "failed", 3), ("true", "succeeded", 0)]
)
def test_a_collection_cut_by_its_time_bound_keeps_the_commands_outcome(
    runs, worker, slow_worker, command, status, exit_code
):
    with on(SLOW_QUEUE):
        command = f"echo hi > b.txt; {command}"
        run = runs.submit({"a.txt": "a"}, command=command, artifactPaths=["b.txt"])
    done = runs.wait(run["id"], timeout=60)
    assert (done["status"], done["exitCode"]) == (status, exit_code)
    assert done["failureReason"] == ("exit_code" if exit_code else None)
    errors = [e["data"] for e in runs.events(run["id"]) if e["type"] == "error"]
    assert [e["code"] for e in errors] == ["collect_timeout"]
    assert "0.001 s" in errors[0]["message"]
    assert done["artifactIds"] == []


def test_without_a_disk_image_the_container_collector_is_as_safe(runs, api, worker, nodisk_worker):
    paths = ["root/etc/passwd", "root/etc/no-such", "**/passwd", "f", "out/", "abs", "sub/x.txt"]
    with on(NODISK_QUEUE):
        run = runs.submit({"a.txt": "a"}, command=HOSTILE, artifactPaths=paths)
    done = runs.wait(run["id"], timeout=90)
    assert (done["status"], done["exitCode"]) == ("succeeded", 0), runs.events(run["id"])[-3:]
    assert runs.wait_evidence(run["id"])["limits"]["disk"] is None  # no disk image: a container
    listed = api.get(f"/api/v1/workspace-runs/{run['id']}/artifacts").json()
    assert sorted(a["path"] for a in listed) == ["abs", "out/bad%FF.txt", "sub/x.txt"]
    assert codes(runs, run["id"]) == {
        "root/etc/passwd": "outside_workspace",
        "root/etc/no-such": "outside_workspace",
        "**/passwd": "no_match",
        "f": "not_regular_file",
        "out/sock": "not_regular_file",
    }


def test_the_entries_bound_cuts_a_wide_walk_and_says_so(runs, api, worker, nodisk_worker):
    command = "mkdir wide && cd wide && seq 1 500 | xargs touch"
    with on(NODISK_QUEUE):
        run = runs.submit({"a.txt": "a"}, command=command, artifactPaths=["wide/", "a.txt"])
    done = runs.wait(run["id"], timeout=90)
    assert (done["status"], done["exitCode"]) == ("succeeded", 0)
    assert codes(runs, run["id"]) == {"wide/": "walk_limit"}
    cut = [e["data"] for e in runs.events(run["id"]) if e["type"] == "artifact_error"][0]
    assert "300 entries" in cut["message"]
    assert done["artifactIds"] == []  # the walk was cut while listing; a.txt came after


def test_the_host_collector_sees_a_detached_id_mapped_copy(tmp_path):
    """On a disk-image host the run's files belong, through the collector's mount, to a uid that
    owns nothing, and no path on the host leads to that mount."""
    disks = LoopDisks(tmp_path)
    owner = settings.CROWNEST_SANDBOX_USER
    device = disks.create("ws", 16 * 1024 * 1024, owner)
    try:
        uid = settings.CROWNEST_COLLECT_UID
        with workspace_tree(device, owner, uid) as tree:
            root = Path(f"/proc/self/fd/{tree}")
            assert root.stat().st_uid == uid and root.stat().st_gid == uid
            mounted = [
                line.split()[0] for line in Path("/proc/self/mounts").read_text().splitlines()
            ]
            assert device not in mounted  # (/dev/loop1 is not /dev/loop12)
            probe = f"import os; os.open('.', os.O_RDONLY, dir_fd={tree}); print(os.getuid())"
            seen = subprocess.run(
                ["/usr/bin/python3", "-I", "-c", probe],
                pass_fds=[tree], user=uid, group=uid, extra_groups=[], cwd="/",
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            assert seen.stdout.strip() == str(uid)
    finally:
        disks.destroy("ws")


def test_an_account_uid_is_refused_as_the_collectors(tmp_path):
    disks = LoopDisks(tmp_path)
    device = disks.create("ws", 16 * 1024 * 1024, settings.CROWNEST_SANDBOX_USER)
    try:
        with pytest.raises(SandboxError, match="CROWNEST_COLLECT_UID=0"):
            with workspace_tree(device, settings.CROWNEST_SANDBOX_USER, 0):
                pass
    finally:
        disks.destroy("ws")


@override_settings(CROWNEST_HEARTBEAT_SECONDS=0.05)
def test_a_collector_that_outlives_its_bound_is_stopped_and_beats_meanwhile():
    proc = subprocess.Popen(["sleep", "30"])
    beats = []

    def done(timeout):
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    assert supervise(done, proc.kill, 0.5, lambda: beats.append(1)) is True
    assert proc.returncode == -9 and beats
