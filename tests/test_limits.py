"""The per-user active-run cap (CROWNEST_MAX_ACTIVE_RUNS) and the API rate limit
(CROWNEST_API_RATE): both answer 429 `throttled` with a Retry-After header, and refuse nothing
they should let through."""

import os
import subprocess
import sys

import pytest
from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle

from runs import tasks
from runs.models import Run

from .helpers import ROOT, Runs, client_for, error_of, make_targz

pytestmark = pytest.mark.django_db

DATA = make_targz({"a.txt": "a"})


@pytest.fixture(autouse=True)
def no_worker(monkeypatch):
    """Started runs stay queued: nothing consumes their tasks here."""
    monkeypatch.setattr(tasks.execute_run, "delay_on_commit", lambda run_id: None)
    monkeypatch.setattr(tasks.finish_ending, "delay_on_commit", lambda run_id: None)


def ready(runs: Runs) -> str:
    run = runs.create(DATA)
    assert runs.upload(run["id"], DATA).status_code == 200
    return run["id"]


def assert_throttled(resp) -> dict:
    assert resp.status_code == 429, resp.content
    err = error_of(resp)
    assert err["code"] == "throttled"
    retry = int(resp.headers["Retry-After"])
    assert retry >= 1 and err["details"]["retryAfterSeconds"] == retry
    assert "Retry-After" in err["message"] or "when one of them ends" in err["message"]
    return err


def test_active_run_cap_counts_queued_and_running_runs(runs, settings):
    settings.CROWNEST_MAX_ACTIVE_RUNS = 3
    first, second, third, fourth = (ready(runs) for _ in range(4))
    for run_id in (first, second):
        assert runs.start(run_id).status_code == 202
    Run.objects.filter(pk=first).update(status=Run.Status.RUNNING)  # running counts as well
    assert runs.start(third).status_code == 202
    err = assert_throttled(runs.start(fourth))
    assert err["details"] == {"retryAfterSeconds": 5, "activeRuns": 3, "limit": 3}
    assert "3 runs queued or running" in err["message"]
    assert runs.get(fourth)["status"] == "ready"  # refused runs stay as they were
    assert Run.objects.filter(status=Run.Status.QUEUED).count() == 2


def test_active_run_cap_is_per_user_and_frees_as_runs_end(runs, other_api, settings):
    settings.CROWNEST_MAX_ACTIVE_RUNS = 1
    mine, waiting = ready(runs), ready(runs)
    assert runs.start(mine).status_code == 202
    assert_throttled(runs.start(waiting))
    theirs = Runs(other_api)
    assert theirs.start(ready(theirs)).status_code == 202  # another user's cap is their own
    assert runs.cancel(mine).status_code == 202  # an ended run no longer counts
    assert runs.start(waiting).status_code == 202


def test_active_run_cap_of_zero_refuses_every_start(runs, settings):
    settings.CROWNEST_MAX_ACTIVE_RUNS = 0
    assert_throttled(runs.start(ready(runs)))


@pytest.fixture
def api_rate(settings, monkeypatch):
    """Set CROWNEST_API_RATE's setting for the test. DRF reloads its settings on the change, but
    UserRateThrottle copied the rates into a class attribute at import: copy them again."""

    def use(rate: str):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"user": rate},
        }
        monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", api_settings.DEFAULT_THROTTLE_RATES)
        cache.clear()  # the request history of earlier tests

    yield use
    cache.clear()


def test_rate_limit_answers_429_with_retry_after(api, api_rate):
    api_rate("4/min")
    codes = [api.get("/api/v1/templates").status_code for _ in range(4)]
    assert codes == [200] * 4
    err = assert_throttled(api.get("/api/v1/workspace-runs"))
    assert 1 <= err["details"]["retryAfterSeconds"] <= 60
    # POSTs count towards the same budget and are refused before anything is stored.
    body = {"template": "python-node", "command": "true", "archive": {"sizeBytes": 1}}
    assert_throttled(api.post("/api/v1/workspace-runs", body, format="json"))
    assert Run.objects.count() == 0


def test_rate_limit_is_per_user(api, other_api, api_rate):
    api_rate("2/min")
    for _ in range(2):
        assert api.get("/api/v1/templates").status_code == 200
    assert_throttled(api.get("/api/v1/templates"))
    assert other_api.get("/api/v1/templates").status_code == 200


def test_rate_limit_window_frees_again(api, api_rate, monkeypatch):
    api_rate("2/sec")
    now = [1000.0]
    monkeypatch.setattr(UserRateThrottle, "timer", lambda self: now[0])
    assert [api.get("/api/v1/templates").status_code for _ in range(3)] == [200, 200, 429]
    now[0] += 1.01
    assert api.get("/api/v1/templates").status_code == 200


def test_default_rate_lets_a_busy_client_through(django_user_model):
    """The default (6000/min) does not throttle a client polling ten times a second."""
    cache.clear()
    api = client_for(django_user_model.objects.create_user("poller"))
    assert all(api.get("/api/v1/templates").status_code == 200 for _ in range(50))


def test_limits_come_from_the_environment():
    env = {
        **os.environ,
        "CROWNEST_API_RATE": "7/min",
        "CROWNEST_MAX_ACTIVE_RUNS": "3",
        "CROWNEST_MAX_JSON_BODY": "4096",
    }
    code = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from rest_framework.throttling import UserRateThrottle\n"
        "print(UserRateThrottle().get_rate(), settings.CROWNEST_MAX_ACTIVE_RUNS,"
        " settings.CROWNEST_MAX_JSON_BODY)\n"
    )
    env["DJANGO_SETTINGS_MODULE"] = "crownest_web.settings"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["7/min", "3", "4096"]
