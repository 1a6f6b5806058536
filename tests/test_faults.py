"""Real faults, for real: a worker killed with SIGKILL, dockerd and PostgreSQL restarted under a
running run, a cancel racing the command's own exit, one task delivered twice. Nothing is mocked
but the routing of tasks to this file's own workers.

The workers here listen on a queue of their own, with short reaper settings and their own
instance label (so their reaper only removes their own sandboxes). Restarting dockerd or
PostgreSQL disturbs everything on the machine: those tests first wait for any other pytest
session to finish (CROWNEST_FAULTS_WAIT seconds, default 600) and are skipped if one does not."""

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import docker
import httpx
import pytest
from django.conf import settings
from django.db import connection, transaction

from runs import tasks
from runs.models import Run
from runs.tokens import token_issue

from .helpers import (
    ROOT,
    TERMINAL,
    Runs,
    busy_runs,
    daphne_process,
    make_targz,
    service,
    wait_until,
)

pytestmark = [pytest.mark.faults, pytest.mark.docker]

# This session's own queues (one per test: QUEUE-<test>) and sandbox label: another test session
# on the machine shares the broker and the Docker engine, and these workers' reapers must leave
# its sandboxes alone.
QUEUE = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-faults-{os.getpid()}"
INSTANCE = f"{settings.CROWNEST_INSTANCE}-faults-{os.getpid()}"
# LOST leaves room for a sandbox start on a busy 2-core machine (the claim's heartbeat is the
# last one before the sandbox is up).
LOST, REQUEUE, REAPER_EVERY = 8, 3, 1
FAULT_ENV = {
    "CROWNEST_INSTANCE": INSTANCE,
    "CROWNEST_LOST_WORKER_SECONDS": str(LOST),
    "CROWNEST_REQUEUE_SECONDS": str(REQUEUE),
    "CROWNEST_REAPER_INTERVAL": str(REAPER_EVERY),
    # Redis hands a dead worker's unacknowledged messages back only after this: far longer
    # than these tests, so what comes back comes back through the reaper.
    "CROWNEST_VISIBILITY_TIMEOUT": "3600",
    "CROWNEST_DB_RETRY_SECONDS": "30",
}
TICKS = "for i in $(seq 1 {n}); do echo tick$i; sleep 0.1; done"
FILES = {"x.txt": "x"}
S = Run.Status


# --- processes --------------------------------------------------------------------------------


def fault_worker(folder: Path, name: str, queue: str, *, concurrency=2, beat=False, prefetch=1):
    """A Celery worker on `queue`; with beat, it also runs the reaper every second (and the
    reaper's re-sends go to `queue`, its default)."""
    folder.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "celery", "-A", "crownest_web", "worker", "-Q", queue]
    argv += ["--concurrency", str(concurrency), "--prefetch-multiplier", str(prefetch)]
    argv += ["-n", f"{name}-{os.getpid()}@%h", "--loglevel", "INFO"]
    argv += ["--without-gossip", "--without-mingle"]
    if beat:
        argv += ["-B", "--schedule", str(folder / "beat-schedule")]
    env = {**FAULT_ENV, "CROWNEST_QUEUE": queue}
    return service(argv, folder, lambda log: b"ready." in log.read_bytes(), env)


def descendants(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    children = [int(p) for p in out.split()]
    return [d for c in children for d in (c, *descendants(c))]


def kill_worker(proc) -> None:
    """SIGKILL the worker and its pool processes at once, as the kernel's OOM killer or a
    crashed host would: nothing gets to clean up."""
    for pid in [proc.pid, *descendants(proc.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(10)


def ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return pids


def other_pytests() -> list[str]:
    out = subprocess.run(["pgrep", "-af", "pytest"], capture_output=True, text=True).stdout
    mine = ancestors()
    return [line for line in out.splitlines() if int(line.split()[0]) not in mine]


@pytest.fixture
def machine_to_myself():
    """Wait until no other pytest session runs on this machine: a restart would break it."""
    wait_until(
        lambda: not other_pytests(),
        timeout=float(os.environ.get("CROWNEST_FAULTS_WAIT", "600")),
        interval=5,
        message=lambda: (
            f"other test sessions kept running, a restart would break them: {other_pytests()}"
        ),
    )


def docker_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def machine_dockerd() -> int:
    """The machine's dockerd (the default socket), not a second engine (--host) beside it."""
    for pid in map(int, subprocess.check_output(["pidof", "dockerd"]).split()):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if not any(a in (b"--host", b"-H") or a.startswith(b"--host=") for a in argv):
            return pid
    raise AssertionError("no dockerd on the default socket")


def dockerd_restart() -> float:
    """Stop the machine's dockerd (SIGTERM, as `systemctl restart docker` does) and start it
    again with the same command line, environment and folder, logging to var/log/dockerd.log
    as scripts/setup.sh does; returns the seconds it was away."""
    pid = machine_dockerd()
    proc_dir = Path(f"/proc/{pid}")
    argv = [a.decode() for a in (proc_dir / "cmdline").read_bytes().split(b"\0") if a]
    env = dict(
        item.decode().split("=", 1)
        for item in (proc_dir / "environ").read_bytes().split(b"\0")
        if b"=" in item
    )
    cwd = os.readlink(proc_dir / "cwd")
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not proc_dir.exists(), timeout=90, message="dockerd did not stop")
    (ROOT / "var" / "log").mkdir(parents=True, exist_ok=True)
    with open(ROOT / "var" / "log" / "dockerd.log", "ab") as log:
        new = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    (ROOT / "var" / "run").mkdir(parents=True, exist_ok=True)
    (ROOT / "var" / "run" / "dockerd.pid").write_text(f"{new.pid}\n")
    wait_until(docker_answers, timeout=90, interval=0.5, message="dockerd did not come back")
    return time.monotonic() - started


def postgres_restart() -> float:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    started = time.monotonic()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True
    )
    connection.close()  # this process's connection died with the server
    return time.monotonic() - started


# --- runs and what they leave behind ------------------------------------------------------------


def to_queue(task, queue: str, times=1):
    def send(*args):
        for _ in range(times):
            transaction.on_commit(lambda: task.apply_async(args, queue=queue))

    return send


@pytest.fixture
def queue(request):
    """This test's queue. The tasks the API sends (execute_run on start, finish_ending after a
    cancel before start) go there instead of to the suite's queue."""
    name = f"{QUEUE}-{request.node.name.removeprefix('test_')[:40]}"
    with (
        mock.patch.object(tasks.execute_run, "delay_on_commit", to_queue(tasks.execute_run, name)),
        mock.patch.object(
            tasks.finish_ending, "delay_on_commit", to_queue(tasks.finish_ending, name)
        ),
    ):
        yield name


def alive(owner: str) -> bool:
    """Whether a pool keeper ("host:pid" on a pooled container) is a live process here."""
    _, _, pid = owner.partition(":")
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    return True


def strays() -> list[str]:
    """What this file's instance has on the host that no live run or worker owns: any run's
    container (no run of this file is active when this is asked), a pooled container whose
    worker is gone, a volume no container mounts, a workspace disk image no volume uses."""
    client = docker.from_env()
    mine = {"label": f"org.crownest.instance={INSTANCE}"}
    found, in_use = [], set()
    for c in client.containers.list(all=True, filters=mine, ignore_removed=True):
        owner = c.labels.get("org.crownest.owner")
        if c.name.startswith("crownest-run-") or (owner is not None and not alive(owner)):
            found.append(f"container {c.name} ({c.status})")
        else:
            in_use.add(c.labels.get("org.crownest.volume"))
    found += [f"volume {v.name}" for v in client.volumes.list(filters=mine) if v.name not in in_use]
    disks = Path(settings.CROWNEST_SANDBOX_DISK_DIR) / INSTANCE / settings.CROWNEST_WORKER_HOST
    found += [f"disk {p.name}" for p in disks.glob("*.img") if p.stem not in in_use]
    return found


BEFORE: set[str] = set()  # strays found when the current test began (an earlier test's)


def new_strays() -> list[str]:
    return [item for item in strays() if item not in BEFORE]


def wait_clean(timeout=30) -> float:
    """Seconds until nothing of this file's instance is left over (see strays) that was not
    there when the test began."""
    started = time.monotonic()
    wait_until(lambda: not new_strays(), timeout=timeout, message=lambda: describe(new_strays()))
    return time.monotonic() - started


def describe(found: list[str]) -> str:
    """The strays, with what became of the runs they belonged to."""
    runs = {}
    for item in found:
        if "crownest-run-" in item:
            run_id = item.split("crownest-run-")[1].split()[0].removesuffix("-workspace")
            run = Run.objects.filter(pk=run_id).first()
            runs[run_id] = run and (run.status, run.failure_reason, run.cancel_requested_at)
    return f"left behind: {found}; their runs: {runs}"


def started_output(runs: Runs, run_id: str, line: str, timeout=60) -> None:
    wait_until(
        lambda: line in runs.output(run_id),
        timeout=timeout,
        message=lambda: f"{run_id} is {runs.get(run_id)['status']}, no {line!r} yet",
    )


def assert_one_ending(events: list[dict], run: dict) -> None:
    """seq 1..N without gap or repeat; one terminal event, last, agreeing with the run."""
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["type"] for e in events].count("terminal") == 1
    assert events[-1]["type"] == "terminal"
    ended = [e for e in events if e["type"] == "status" and e["data"]["status"] in TERMINAL]
    assert [e["data"]["status"] for e in ended] == [run["status"]]
    data = events[-1]["data"]
    assert (data["status"], data["exitCode"], data["failureReason"]) == (
        run["status"],
        run["exitCode"],
        run["failureReason"],
    )
    assert run["lastSeq"] == len(events)


def assert_evidence_agrees(runs: Runs, run: dict, events: list[dict]) -> None:
    """The bundle, the event log export and the signed statement all tell the run's outcome."""
    base = f"/api/v1/workspace-runs/{run['id']}"
    bundle = runs.wait_evidence(run["id"])
    outcome = {k: run[k] for k in ("status", "exitCode", "failureReason")}
    assert {k: bundle[k] for k in outcome} == outcome
    assert bundle["terminalEvent"] == events[-1]
    assert (bundle["events"]["count"], bundle["events"]["lastSeq"]) == (len(events),) * 2
    ndjson = b"".join(runs.api.get(f"{base}/events.ndjson").streaming_content)
    assert hashlib.sha256(ndjson).hexdigest() == bundle["events"]["sha256"]
    envelope = runs.api.get(f"{base}/evidence/attestation").json()
    statement = json.loads(base64.b64decode(envelope["payload"]))
    signed = statement["predicate"]["runDetails"]["byproducts"][0]["annotations"]
    assert signed == {**outcome, "runId": run["id"], "lastSeq": len(events)}


def sse_events(base_url: str, token: str, run_id: str, stop_after=None) -> list[dict]:
    """The run's events as an SSE viewer gets them, up to the terminal event (or stop_after)."""
    url = f"{base_url}/api/v1/workspace-runs/{run_id}/events/stream"
    events = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.stream("GET", url, headers=headers, timeout=30) as resp:
        assert resp.status_code == 200, resp.read()
        for line in resp.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if events[-1]["type"] == "terminal" or len(events) == stop_after:
                    break
    return events


def _quietly(fn, *args):
    """fn(*args), or None when it raises (for wait_until: try again)."""
    try:
        return fn(*args)
    except (httpx.HTTPError, AssertionError):
        return None


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def idle() -> bool:
    """No run of this file is waiting, running or still being written by a worker."""
    return not busy_runs().exists()


@pytest.fixture
def fault_runs(transactional_db, api, queue):
    BEFORE.clear()
    BEFORE.update(strays())
    yield Runs(api)
    connection.close()  # after a database restart, the old one may be broken
    for run in Run.objects.filter(status__in=[S.AWAITING_ARCHIVE, S.READY, S.QUEUED]):
        with contextlib.suppress(Exception):
            Runs(api).cancel(run.id)
    wait_until(idle, timeout=60, message="this file's workers are still busy")


STEADY = f"{QUEUE}-steady"


@pytest.fixture(scope="module", autouse=True)
def disk_folder():
    """The instance's folder of workspace disk images goes with the module, when empty."""
    yield
    folder = Path(settings.CROWNEST_SANDBOX_DISK_DIR) / INSTANCE
    with contextlib.suppress(OSError):
        shutil.rmtree(folder / settings.CROWNEST_WORKER_HOST / "claims")
        (folder / settings.CROWNEST_WORKER_HOST).rmdir()
        folder.rmdir()


@pytest.fixture(scope="module")
def steady_worker(django_db_setup, tmp_path_factory):
    """One worker with three slots for the tests that do not kill workers."""
    folder = tmp_path_factory.mktemp("steady")
    with fault_worker(folder, "steady", STEADY, concurrency=3) as (proc, log):
        yield proc, log


@pytest.fixture
def steady(fault_runs, steady_worker):
    """Runs started through the API go to the steady worker."""
    with (
        mock.patch.object(
            tasks.execute_run, "delay_on_commit", to_queue(tasks.execute_run, STEADY)
        ),
        mock.patch.object(
            tasks.finish_ending, "delay_on_commit", to_queue(tasks.finish_ending, STEADY)
        ),
    ):
        yield fault_runs, steady_worker[1]


# --- the tests --------------------------------------------------------------------------------


def test_the_same_task_delivered_twice_runs_once(steady):
    runs, log = steady
    data = make_targz(FILES)
    run = runs.create(data, command="sleep 1; echo once")
    assert runs.upload(run["id"], data).status_code == 200
    received_before = log.read_bytes().count(b"runs.tasks.execute_run[")
    since = int(time.time()) - 1

    twice = to_queue(tasks.execute_run, STEADY, times=2)
    with mock.patch.object(tasks.execute_run, "delay_on_commit", twice):
        assert runs.start(run["id"]).status_code == 202
    done = runs.wait(run["id"])
    assert done["status"] == "succeeded", runs.events(run["id"])
    events = runs.events(run["id"])
    assert_one_ending(events, done)
    running = [e for e in events if e["type"] == "status" and e["data"]["status"] == "running"]
    assert len(running) == 1
    assert lines(runs.output(run["id"])) == ["once"]
    # Both deliveries reached the worker (received, then finished: one of them did nothing).
    wait_until(
        lambda: log.read_bytes().count(b"runs.tasks.execute_run[") - received_before >= 4,
        timeout=10,
        message=lambda: log.read_text()[-2000:],
    )
    # One container ever became the run's sandbox: created under its name, or a pooled one
    # renamed to it; a second execution would have made or claimed another.
    made = docker.from_env().events(
        since=since,
        until=int(time.time()) + 1,
        filters={"type": "container", "event": ["create", "rename"]},
        decode=True,
    )
    names = [e["Actor"]["Attributes"].get("name", "").lstrip("/") for e in made]
    assert names.count(f"crownest-run-{run['id']}") == 1, names
    wait_clean()


def test_cancel_racing_the_commands_exit(steady):
    """20 runs of `true`, each canceled right when it starts running, at a different moment
    of its short life: each ends once, as the evidence says."""
    runs, _ = steady
    data = make_targz(FILES)
    answers = {}
    for i in range(20):
        run = runs.create(data, command="true")
        assert runs.upload(run["id"], data).status_code == 200
        assert runs.start(run["id"]).status_code == 202
        if i % 4:  # most wait for the worker's claim; every fourth is canceled while queued
            runs.wait(run["id"], until=lambda r: r["status"] != "queued", timeout=30)
            time.sleep((i % 5) * 0.08)
        answers[run["id"]] = runs.cancel(run["id"]).status_code
    seen = {}
    for run_id, answer in answers.items():
        done = runs.wait(run_id, timeout=60)
        outcome = f"cancel {answer} -> {done['status']}"
        seen[outcome] = seen.get(outcome, 0) + 1
        # 202: the cancel was taken (the run may still have ended on its own right then);
        # 409: it came after the end, which must then be the command's own.
        assert answer in (202, 409)
        if answer == 409:
            assert done["status"] == "succeeded"
        events = runs.events(run_id)
        errors = [e["data"] for e in events if e["type"] == "error"]
        assert done["status"] in ("canceled", "succeeded"), (done["failureReason"], errors)
        assert_one_ending(events, done)
        assert_evidence_agrees(runs, done, events)
        wait_clean()
    # The races land on each side: every fourth run is canceled while queued, and with a warm
    # pool most of the others end on their own first.
    assert sum(n for k, n in seen.items() if k.endswith("canceled")) >= 1, seen
    assert sum(n for k, n in seen.items() if k.endswith("succeeded")) >= 1, seen


def test_postgres_restart_mid_run(steady, user, tmp_path, machine_to_myself):
    runs, log = steady
    (tmp_path / "web").mkdir()
    with daphne_process(tmp_path / "web") as (_, _, base_url):
        token = token_issue(user=user)
        run = runs.submit(FILES, command=TICKS.format(n=60))
        started_output(runs, run["id"], "tick5")
        assert sse_events(base_url, token, run["id"], stop_after=5)  # the web is in use
        mark = len(log.read_bytes())
        away = postgres_restart()
        done = runs.wait(run["id"], timeout=60)
        # The web process serves the whole log again once the database is back.
        streamed = wait_until(lambda: _quietly(sse_events, base_url, token, run["id"]))
    worker_log = log.read_bytes()[mark:].decode(errors="replace")
    assert done["status"] == "succeeded", (done, worker_log[-3000:])
    events = runs.events(run["id"])
    assert_one_ending(events, done)
    statuses = [e["data"]["status"] for e in events if e["type"] == "status"]
    assert statuses == ["awaiting_archive", "ready", "queued", "running", "succeeded"]
    assert lines(runs.output(run["id"])) == [f"tick{i}" for i in range(1, 61)]
    assert_evidence_agrees(runs, done, events)
    assert streamed == events
    # The outage did reach the worker mid-run, which reconnected and carried on.
    assert "retrying in" in worker_log, worker_log[-3000:]
    again = runs.submit(FILES, command="echo after-restart")
    assert runs.wait(again["id"])["status"] == "succeeded"
    print(f"postgres restart took {away:.1f} s; the run went on")


def test_dockerd_restart_mid_run(fault_runs, queue, tmp_path, machine_to_myself):
    runs = fault_runs
    with fault_worker(tmp_path / "w", "dockerd", queue, beat=True) as (_, log):
        run = runs.submit(FILES, command=TICKS.format(n=600))
        started_output(runs, run["id"], "tick3")
        t0 = time.monotonic()
        away = dockerd_restart()
        done = runs.wait(run["id"], timeout=60)
        ended_after = time.monotonic() - t0
        events = runs.events(run["id"])
        assert (done["status"], done["failureReason"]) == ("failed", "sandbox_error"), events[-5:]
        assert_one_ending(events, done)
        errors = [e["data"] for e in events if e["type"] == "error"]
        assert [e["code"] for e in errors] == ["sandbox_error"], errors
        assert_evidence_agrees(runs, done, events)
        cleaned_after = wait_clean(timeout=30) + ended_after  # the ending's or the reaper's
        again = runs.submit(FILES, command="echo after-restart")
        assert runs.wait(again["id"])["status"] == "succeeded", log.read_text()[-3000:]
    print(
        f"dockerd away {away:.1f} s; run ended after {ended_after:.1f} s "
        f"({errors[0]['message']!r}); nothing left after {cleaned_after:.1f} s"
    )
    # Clear: it says that the sandbox or its engine went away, not just an exception's repr.
    assert re.search(r"sandbox|docker", errors[0]["message"], re.I), errors


def test_worker_sigkilled_mid_run_ends_lost_worker(fault_runs, queue, tmp_path):
    runs = fault_runs
    with fault_worker(tmp_path / "doomed", "doomed", queue, concurrency=1) as (doomed, _):
        run = runs.submit(FILES, command=TICKS.format(n=600))
        started_output(runs, run["id"], "tick3")
        with fault_worker(tmp_path / "fresh", "fresh", queue, beat=True) as (_, log):
            kill_worker(doomed)
            killed = time.monotonic()
            done = runs.wait(run["id"], timeout=LOST + 20)
            ended_after = time.monotonic() - killed
            assert (done["status"], done["failureReason"]) == ("failed", "lost_worker"), done
            # The reaper ends it once the worker has been silent for LOST seconds, on its next
            # pass: the heartbeat before the kill may be up to 1 s old, the pass 1 s late.
            assert ended_after <= LOST + 2 * REAPER_EVERY + 2, ended_after
            events = runs.events(run["id"])
            assert_one_ending(events, done)
            assert [e["data"]["code"] for e in events if e["type"] == "error"] == ["lost_worker"]
            assert_evidence_agrees(runs, done, events)
            wait_clean(timeout=10)  # the run's sandbox, and the dead worker's pool
            cleaned_after = time.monotonic() - killed
            again = runs.submit(FILES, command="echo fresh")
            assert runs.wait(again["id"])["status"] == "succeeded", log.read_text()[-3000:]
            assert lines(runs.output(again["id"])) == ["fresh"]
    print(f"lost_worker after {ended_after:.1f} s; sandbox gone after {cleaned_after:.1f} s")


def test_queued_runs_survive_a_killed_worker(fault_runs, queue, tmp_path, steady_worker):
    """A worker holding a running run and a reserved one (prefetch 2) is killed while more runs
    wait in the queue; a second worker runs them all, each once, the reserved one included,
    though its message stays with the dead worker in Redis (unacknowledged, for the visibility
    timeout).

    A task is a slot, not a run (runs/scheduling/dispatch.py): the second worker's tasks start
    the oldest queued run first, which is the reserved one; were no task left for it, a live
    host's reaper sends one after CROWNEST_REQUEUE_SECONDS (to its own queue: the steady
    worker, another host on this database with a queue of its own, may be that host)."""
    runs = fault_runs
    data = make_targz(FILES)
    steady_log = steady_worker[1]
    doomed_worker = fault_worker(tmp_path / "doomed", "doomed", queue, concurrency=1, prefetch=2)
    with doomed_worker as (doomed, doomed_log):
        long = runs.submit(FILES, command=TICKS.format(n=600))
        started_output(runs, long["id"], "tick2")
        queued = []
        for i in range(4):
            run = runs.create(data, command=f"echo queued{i}")
            assert runs.upload(run["id"], data).status_code == 200
            assert runs.start(run["id"]).status_code == 202
            queued.append(run["id"])
        # The doomed worker takes one more task than it runs (prefetch 2): reserved, unstarted.
        wait_until(
            lambda: doomed_log.read_text().count("runs.tasks.execute_run[") >= 2,
            timeout=10,
            message=lambda: doomed_log.read_text()[-2000:],
        )
        assert all(runs.get(r)["status"] == "queued" for r in queued)
        reserved = queued[0]  # the broker hands tasks out in order: the first after `long`
        second = fault_worker(tmp_path / "second", "second", queue, beat=True)
        with second as (_, log):
            doomed_pids = {doomed.pid, *descendants(doomed.pid)}
            kill_worker(doomed)
            finished = {r: runs.wait(r, timeout=REQUEUE + 30) for r in queued}
            assert runs.wait(long["id"], timeout=LOST + 20)["failureReason"] == "lost_worker"
            for i, (run_id, done) in enumerate(finished.items()):
                assert done["status"] == "succeeded", "\n".join(
                    [
                        f"{run_id}: {done.get('failureReason')}, worker "
                        + Run.objects.values_list("worker", flat=True).get(pk=run_id),
                        *(
                            f"{e['seq']} {e['timestamp']} {e['type']} {e['data']}"[:300]
                            for e in runs.events(run_id)
                        ),
                        log.read_text()[-3000:],
                    ]
                )
                assert lines(runs.output(run_id)) == [f"queued{i}"]
                assert_one_ending(runs.events(run_id), done)
            wait_clean(timeout=10)
            resent = {"second": requeued(log, reserved), "steady": requeued(steady_log, reserved)}
    # The reserved run ran once (asserted above: one ending, its output once), on a live worker:
    # not in a process of the killed one.
    worker = Run.objects.values_list("worker", flat=True).get(pk=reserved)
    assert int(worker.split(":")[1]) not in doomed_pids, (worker, doomed_pids, resent)


def requeued(log: Path, run_id: str) -> int:
    """The reaper passes in a worker's log that sent `run_id` again."""
    passes = [line for line in log.read_text().splitlines() if "reaper pass:" in line]
    return sum(1 for line in passes if "'requeue': [" in line and run_id in line)
