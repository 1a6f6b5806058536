"""Two worker hosts: two Celery workers, each bound to its own Docker engine (the machine's, and a
second dockerd started by scripts/second_engine.sh), sharing PostgreSQL and Redis. Runs spread
over both up to their slots; cancel reaches a run on either; a killed host takes only its own
runs to lost_worker while the other keeps running and taking work."""

import signal
import subprocess
from unittest import mock

import docker
import pytest
from django.conf import settings

from runs import tasks
from runs.models import Run, WorkerHost

from .helpers import ROOT, to_queue, wait_for_idle_worker, wait_until, worker_process

pytestmark = [pytest.mark.docker, pytest.mark.multihost]
QUEUE = "crownest-test-multihost"
INSTANCE = f"{settings.CROWNEST_INSTANCE}-mh"
SLOTS = 2
HOSTS = ("mh-a", "mh-b")


@pytest.fixture(scope="module")
def engine_b() -> str:
    """The second host's engine (started and given the template image when missing)."""
    done = subprocess.run(
        ["bash", "scripts/second_engine.sh"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def host_env(name: str, docker_host: str = "") -> dict:
    env = {
        "CROWNEST_WORKER_HOST": name,
        "CROWNEST_INSTANCE": INSTANCE,
        "CROWNEST_SANDBOX_POOL_SIZE": "0",
        "CROWNEST_HOST_HEARTBEAT_SECONDS": "1",
        "CROWNEST_REAPER_INTERVAL": "1",
        "CROWNEST_LOST_WORKER_SECONDS": "4",
    }
    if docker_host:
        env["DOCKER_HOST"] = docker_host
    return env


@pytest.fixture
def two_hosts(worker, engine_b, tmp_path):
    """Host A on the machine's engine, host B on the second; both take runs from one queue."""
    WorkerHost.objects.filter(name__in=HOSTS).delete()
    with (
        worker_process(
            QUEUE, tmp_path / "a", host_env("mh-a"), concurrency=SLOTS, name=f"{QUEUE}-a"
        ) as (proc_a, _),
        worker_process(
            QUEUE, tmp_path / "b", host_env("mh-b", engine_b), concurrency=SLOTS, name=f"{QUEUE}-b"
        ) as (proc_b, _),
        mock.patch.object(tasks.execute_run, "delay_on_commit", to_queue(QUEUE)),
    ):
        wait_until(lambda: WorkerHost.objects.filter(name__in=HOSTS).count() == 2, timeout=30)
        yield {"mh-a": proc_a, "mh-b": proc_b}
        wait_for_idle_worker()  # while the hosts still run: they end what a test left running


def host_of(run_id: str) -> str:
    return Run.objects.get(pk=run_id).worker_host


def engine(docker_host: str = ""):
    return docker.DockerClient(base_url=docker_host) if docker_host else docker.from_env()


def sandboxes(client) -> set[str]:
    mine = {"label": f"org.crownest.instance={INSTANCE}"}
    # a container removed between docker-py's list and its inspect of it is gone: not an error
    found = client.containers.list(all=True, filters=mine, ignore_removed=True)
    return {c.name for c in found}


def test_runs_spread_over_both_hosts_up_to_their_slots(runs, api, two_hosts):
    ids = [runs.submit({"a.txt": "a"}, command="sleep 4; echo done")["id"] for _ in range(4)]
    wait_until(lambda: all(runs.get(i)["status"] == "running" for i in ids), timeout=60)
    # every slot of both hosts is in use at once: no run waits behind a busy host
    assert sorted(host_of(i) for i in ids) == ["mh-a", "mh-a", "mh-b", "mh-b"]
    health = api.get("/healthz").json()
    hosts = {h["name"]: h for h in health["hosts"]}
    for name in HOSTS:
        assert hosts[name]["slots"] == SLOTS
        assert hosts[name]["slotsInUse"] == SLOTS
        assert hosts[name]["state"] == "up"
    done = [runs.wait(i) for i in ids]
    assert {d["status"] for d in done} == {"succeeded"}
    assert all(runs.output(i) == "done\n" for i in ids)
    # each run's evidence names its host's worker; each host removed its own sandboxes
    wait_until(lambda: all(runs.get(i)["sandbox"]["removedAt"] for i in ids), timeout=30)


def test_cancel_reaches_a_run_on_the_second_host(runs, two_hosts, engine_b):
    ids = [runs.submit({"a.txt": "a"}, command="echo started; sleep 60")["id"] for _ in range(3)]
    wait_until(lambda: all(runs.get(i)["status"] == "running" for i in ids), timeout=60)
    on_b = next(i for i in ids if host_of(i) == "mh-b")
    client_b = engine(engine_b)
    wait_until(lambda: f"crownest-run-{on_b}" in sandboxes(client_b), timeout=30)
    wait_until(lambda: runs.output(on_b) == "started\n", timeout=30)  # the command runs
    assert runs.cancel(on_b).status_code == 202
    ended = runs.wait(on_b, timeout=20)
    assert ended["status"] == "canceled"
    wait_until(lambda: f"crownest-run-{on_b}" not in sandboxes(client_b), timeout=20)
    for other in ids:
        if other != on_b:
            runs.cancel(other)
    for other in ids:
        runs.wait(other, timeout=30)


def test_a_killed_host_fails_only_its_own_runs(runs, two_hosts, engine_b, tmp_path):
    command = "echo started; sleep 10; echo done"
    ids = [runs.submit({"a.txt": "a"}, command=command)["id"] for _ in range(4)]
    wait_until(lambda: all(runs.output(i) == "started\n" for i in ids), timeout=60)
    on_a = [i for i in ids if host_of(i) == "mh-a"]
    on_b = [i for i in ids if host_of(i) == "mh-b"]
    assert len(on_a) == len(on_b) == SLOTS
    two_hosts["mh-a"].send_signal(signal.SIGKILL)
    two_hosts["mh-a"].wait(10)
    subprocess.run(["pkill", "-9", "-f", "--", f"-n {QUEUE}-a@"], check=False)  # its children
    # host B's reaper ends A's runs (nothing of B's) while B's own runs carry on
    for run_id in on_a:
        ended = runs.wait(run_id, timeout=40)
        assert (ended["status"], ended["failureReason"]) == ("failed", "lost_worker")
    for run_id in on_b:
        ended = runs.wait(run_id, timeout=40)
        assert ended["status"] == "succeeded"
        assert runs.output(run_id) == "started\ndone\n"
    # B still takes new work, and the hosts' states say what happened
    later = runs.submit({"b.txt": "b"}, command="cat b.txt")
    assert runs.wait(later["id"])["status"] == "succeeded"
    assert host_of(later["id"]) == "mh-b"
    assert f"crownest-run-{on_b[0]}" not in sandboxes(engine(engine_b))
    # A's sandboxes stay on A's engine (no other host touches them) until A is back: then its
    # own reaper removes them
    left = {f"crownest-run-{i}" for i in on_a}
    assert left <= sandboxes(engine())
    with worker_process(
        QUEUE, tmp_path / "a2", host_env("mh-a"), concurrency=SLOTS, name=f"{QUEUE}-a2"
    ):
        wait_until(lambda: not (left & sandboxes(engine())), timeout=30)
