"""The sandbox under gVisor (CROWNEST_SANDBOX_RUNTIME=runsc): a worker of its own runs the same
hardening, containment and limit checks as under Docker's default runtime."""

from unittest import mock

import pytest

from runs import tasks

from .helpers import HARDENING_PROBE, assert_hardened, to_queue, worker_process

pytestmark = pytest.mark.docker
QUEUE = "crownest-test-runsc"


@pytest.fixture(scope="module")
def runsc_worker(live_worker, tmp_path_factory):
    folder = tmp_path_factory.mktemp("runsc-worker")
    # gVisor's own kernel threads count against the container's pids limit (about 60 at
    # start, more as tasks block), so runs under runsc get a higher one (docs/operations.md).
    env = {"CROWNEST_SANDBOX_RUNTIME": "runsc", "CROWNEST_SANDBOX_PIDS": "256"}
    with worker_process(QUEUE, folder, env, concurrency=2):
        yield


@pytest.fixture
def gvisor(runsc_worker, worker):
    """Runs started in the test go to the runsc worker."""
    with mock.patch.object(tasks.execute_run, "delay_on_commit", to_queue(QUEUE)):
        yield


def test_runs_under_gvisor_and_stay_hardened(runs, gvisor):
    run = runs.submit({"probe.py": HARDENING_PROBE}, command="python3 probe.py; dmesg | head -1")
    done = runs.wait(run["id"])
    assert done["status"] == "succeeded", [
        e["data"] for e in runs.events(run["id"]) if e["type"] == "error"
    ]
    out = runs.output(run["id"])
    assert_hardened(out)
    assert "gVisor" in out  # gVisor's own kernel log, not the host's
    evidence = runs.wait_evidence(run["id"])
    assert evidence["limits"]["runtime"] == "runsc"


def test_fork_bomb_memory_and_disk_are_contained_under_gvisor(runs, gvisor):
    bomb = runs.submit(
        {"x": "x"},
        command='python3 -c "import os\nn=0\ntry:\n  while True:\n    if os.fork()==0:\n'
        "      import time; time.sleep(30); os._exit(0)\n    n+=1\nexcept OSError:\n"
        "  print('fork refused after', n)\"",
        timeoutSeconds=30,
    )
    oom = runs.submit({"x": "x"}, command="python3 -c \"b = b'x' * (1024**3); print(len(b))\"")
    disk = runs.submit(
        {"x": "x"}, command="dd if=/dev/zero of=big bs=1M count=400 2>&1 | tail -1; exit 1"
    )
    # Under gVisor a fork bomb exhausts the sandbox's thread budget and the sandbox ends;
    # the host and other runs are untouched, and the run ends without waiting for its timeout.
    done = runs.wait(bomb["id"], timeout=90)
    assert done["status"] == "failed" and done["failureReason"] == "exit_code", done
    assert runs.wait(oom["id"], timeout=90)["status"] == "failed"
    assert runs.get(oom["id"])["failureReason"] in ("oom_killed",), runs.events(oom["id"])[-3:]
    ended = runs.wait(disk["id"], timeout=90)
    assert (ended["status"], ended["failureReason"]) == ("failed", "disk_limit")
