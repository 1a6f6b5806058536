"""Limits that hold under races: the active-run cap (CROWNEST_MAX_ACTIVE_RUNS) and the cap on runs
awaiting their archive (CROWNEST_MAX_AWAITING_ARCHIVE), each hit by 30 requests at once on 30
real database connections (threads, committed data), and the awaiting cap's everyday answers."""

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from runs import tasks
from runs.models import Run

from .helpers import ROOT, Runs, archive_meta, client_for, error_of, make_targz

DATA = make_targz({"a.txt": "a"})
AT_ONCE = 30


@pytest.fixture(autouse=True)
def no_worker(monkeypatch):
    """Started runs stay queued: nothing consumes their tasks here."""
    monkeypatch.setattr(tasks.execute_run, "delay_on_commit", lambda run_id: None)
    monkeypatch.setattr(tasks.finish_ending, "delay_on_commit", lambda run_id: None)


def all_at_once(calls) -> list:
    """Each call on its own thread and database connection, released together."""
    gate = threading.Barrier(len(calls))

    def run(call):
        try:
            gate.wait(timeout=60)
            return call()
        finally:
            connections.close_all()  # this thread's connection

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def assert_throttled(resp) -> dict:
    assert resp.status_code == 429, resp.content
    err = error_of(resp)
    assert err["code"] == "throttled"
    assert int(resp.headers["Retry-After"]) == err["details"]["retryAfterSeconds"] >= 1
    return err


def ready(runs: Runs) -> str:
    run = runs.create(DATA)
    assert runs.upload(run["id"], DATA).status_code == 200
    return run["id"]


@pytest.mark.django_db(transaction=True)
def test_thirty_concurrent_starts_never_pass_the_active_cap(user, settings):
    settings.CROWNEST_MAX_ACTIVE_RUNS = 5
    clients = [Runs(client_for(user)) for _ in range(AT_ONCE)]  # one client per thread
    ids = [ready(runs) for runs in clients]
    calls = [lambda r=runs, i=run_id: r.start(i) for runs, run_id in zip(clients, ids, strict=True)]
    answers = all_at_once(calls)
    codes = sorted(resp.status_code for resp in answers)
    assert codes == [202] * 5 + [429] * (AT_ONCE - 5), codes
    assert Run.objects.filter(status__in=["queued", "running"]).count() == 5
    for resp in answers:
        if resp.status_code == 429:
            err = assert_throttled(resp)
            assert err["details"]["activeRuns"] == 5 and err["details"]["limit"] == 5
            assert "5 runs queued or running" in err["message"]


@pytest.mark.django_db(transaction=True)
def test_thirty_concurrent_creates_never_pass_the_awaiting_archive_cap(user, settings):
    settings.CROWNEST_MAX_AWAITING_ARCHIVE = 10
    body = {"template": "python-node", "command": "true", "archive": archive_meta(DATA)}
    body["reuseArchive"] = False
    clients = [client_for(user) for _ in range(AT_ONCE)]

    def create(api):
        return lambda: api.post("/api/v1/workspace-runs", body, format="json")

    answers = all_at_once([create(api) for api in clients])
    codes = sorted(resp.status_code for resp in answers)
    assert codes == [201] * 10 + [429] * (AT_ONCE - 10), codes
    assert Run.objects.filter(status="awaiting_archive").count() == 10
    err = assert_throttled(next(r for r in answers if r.status_code == 429))
    assert err["details"]["awaitingArchive"] == 10 and err["details"]["limit"] == 10


@pytest.mark.django_db
def test_the_awaiting_cap_frees_as_archives_arrive_and_runs_go(user, other_user, settings):
    settings.CROWNEST_MAX_AWAITING_ARCHIVE = 2
    settings.CROWNEST_AWAITING_ARCHIVE_RETRY_SECONDS = 30
    runs = Runs(client_for(user))
    first, second = runs.create(DATA), runs.create(DATA)
    body = {"template": "python-node", "command": "true", "archive": archive_meta(DATA)}
    body["reuseArchive"] = False
    resp = runs.api.post("/api/v1/workspace-runs", body, format="json")
    err = assert_throttled(resp)
    assert resp.headers["Retry-After"] == "30"
    assert err["details"] == {
        "retryAfterSeconds": 30,
        "awaitingArchive": 2,
        "limit": 2,
        "quota": "maxAwaitingArchive",
        "scope": "user",
        "name": "alice",
    }
    assert "2 runs waiting for their archive" in err["message"]
    assert "upload their archives" in err["message"]
    # A re-run is a new run too.
    assert_throttled(runs.api.post(f"/api/v1/workspace-runs/{first['id']}/rerun"))
    assert Run.objects.count() == 2
    # Another user's cap is their own.
    assert Runs(client_for(other_user)).create(DATA)["status"] == "awaiting_archive"
    # An arrived archive, a canceled run, a deleted run: each makes room for one more.
    assert runs.upload(first["id"], DATA).status_code == 200
    third = runs.create(DATA)
    assert_throttled(runs.api.post("/api/v1/workspace-runs", body, format="json"))
    assert runs.cancel(second["id"]).status_code == 202
    runs.create(DATA)
    assert runs.api.delete(f"/api/v1/workspace-runs/{third['id']}").status_code == 204
    runs.create(DATA)
    assert_throttled(runs.api.post("/api/v1/workspace-runs", body, format="json"))


def test_the_caps_come_from_the_environment():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "crownest_web.settings"}
    env |= {"CROWNEST_MAX_AWAITING_ARCHIVE": "7", "CROWNEST_AWAITING_ARCHIVE_RETRY_SECONDS": "9"}
    code = (
        "import django; django.setup()\n"
        "from django.conf import settings as s\n"
        "print(s.CROWNEST_MAX_AWAITING_ARCHIVE, s.CROWNEST_AWAITING_ARCHIVE_RETRY_SECONDS)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["7", "9"]
