"""Usage and quota refusals through the Python SDK and `crownest usage`, against a live server
(Django's, in a thread: no worker needed, nothing here runs a sandbox)."""

import os
import subprocess
from datetime import timedelta

import pytest
from crownest_client import Client, QuotaExceeded
from django.utils import timezone

from runs import tasks
from runs.models import Quota, Run
from runs.scheduling import usage
from runs.tokens import token_issue

from .helpers import CLI, Runs, client_for, make_targz

pytestmark = pytest.mark.django_db(transaction=True)
DATA = make_targz({"a.txt": "a"})


@pytest.fixture(autouse=True)
def no_worker(monkeypatch):
    monkeypatch.setattr(tasks.execute_run, "delay_on_commit", lambda run_id: None)


def fifteen_minutes_today(user) -> None:
    start = usage.day_start(timezone.now()) + timedelta(seconds=1)
    Run.objects.create(
        owner=user,
        template="python-node",
        command="true",
        timeout_seconds=600,
        archive_size_bytes=1,
        archive_sha256="0" * 64,
        status="succeeded",
        started_at=start,
        finished_at=start + timedelta(minutes=15),
    )


def test_the_sdk_and_the_cli_show_usage_and_the_typed_refusal(live_server, user, tmp_path):
    Quota.objects.create(user=user, run_minutes_per_day=15)
    fifteen_minutes_today(user)
    token = token_issue(user=user)
    with Client(live_server.url, token) as sdk:
        (mine,) = sdk.usage()
        assert mine["used"]["runMinutesToday"] == 15 and mine["limits"]["runMinutesPerDay"] == 15
        assert sdk.list_teams() == []
        runs = Runs(client_for(user))
        run = runs.create(DATA)
        assert runs.upload(run["id"], DATA).status_code == 200
        with pytest.raises(QuotaExceeded) as refused:
            sdk.start(run["id"])
    assert refused.value.details["quota"] == "runMinutesPerDay"
    assert int(refused.value.retry_after) >= 1
    env = {
        **os.environ,
        "CROWNEST_URL": live_server.url,
        "CROWNEST_TOKEN": token,
        "CROWNEST_CONFIG": str(tmp_path / "none.json"),
    }
    res = subprocess.run([CLI, "usage", "--text"], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "user alice"
    assert "  run minutes today       15 / 15" in lines
    assert f"  stored bytes            {len(DATA)}" in lines  # no limit: no " / "
