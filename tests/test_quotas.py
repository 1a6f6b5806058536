"""Quotas refuse what would pass them (docs/api.md, "Teams, quotas and usage"): run minutes per
UTC day and month at start, stored bytes at create, upload and transfer completion (429
quota_exceeded with Retry-After), runs awaiting their archive at create (429 throttled); each for
the owner and for the run's team, a user's or team's own quota winning over the settings."""

import math
from datetime import timedelta

import pytest
from django.utils import timezone

from runs import tasks
from runs.blobs import storage
from runs.ids import iso
from runs.models import Membership, Quota, Run, Team
from runs.scheduling import usage

from .helpers import Runs, Staged, client_for, error_of, make_targz, stored_artifact

pytestmark = pytest.mark.django_db
DATA = make_targz({"a.txt": "a" * 100})
OTHER = make_targz({"b.txt": "b" * 200})


@pytest.fixture(autouse=True)
def no_worker(monkeypatch):
    """Started runs stay queued: nothing consumes their tasks here."""
    monkeypatch.setattr(tasks.execute_run, "delay_on_commit", lambda run_id: None)


@pytest.fixture
def team(user, other_user):
    team = Team.objects.create(slug="platform", name="Platform")
    Membership.objects.create(team=team, user=user)
    Membership.objects.create(team=team, user=other_user)
    return team


def past_run(owner, *, started, minutes, team=None, **fields) -> Run:
    """A run that ran `minutes` from `started` (times set directly, as the worker would)."""
    return Run.objects.create(
        owner=owner,
        team=team,
        template="python-node",
        command="true",
        timeout_seconds=600,
        archive_size_bytes=1,
        archive_sha256="0" * 64,
        status=Run.Status.SUCCEEDED,
        started_at=started,
        finished_at=started + timedelta(minutes=minutes),
        **fields,
    )


def ready(runs: Runs, data=DATA, **fields) -> str:
    run = runs.create(data, **fields)
    assert runs.upload(run["id"], data).status_code == 200
    return run["id"]


def refused(resp, quota: str) -> dict:
    assert resp.status_code == 429, resp.content
    err = error_of(resp)
    assert err["code"] == "quota_exceeded"
    assert err["details"]["quota"] == quota
    return err


def retry_after_until(resp, resets_at) -> None:
    """Retry-After is the whole seconds from the answer until resetsAt (rounded up)."""
    waited = int(resp.headers["Retry-After"])
    left = (resets_at - timezone.now()).total_seconds()
    assert math.ceil(left) <= waited <= math.ceil(left) + 5


def test_run_minutes_per_day_refuse_a_start_until_midnight(user, settings):
    settings.CROWNEST_QUOTA_RUN_MINUTES_PER_DAY = 30
    now = timezone.now()
    past_run(user, started=usage.day_start(now) + timedelta(seconds=1), minutes=31)
    past_run(user, started=usage.day_start(now) - timedelta(hours=2), minutes=500)  # yesterday
    runs = Runs(client_for(user))
    run_id = ready(runs)
    resp = runs.start(run_id)
    err = refused(resp, "runMinutesPerDay")
    midnight = usage.next_day(now)
    assert err["details"] == {
        "quota": "runMinutesPerDay",
        "scope": "user",
        "name": "alice",
        "used": 31,
        "limit": 30,
        "resetsAt": iso(midnight),
    }
    assert err["message"] == (
        f"User 'alice' has used 31 of its 30 run minutes today (UTC); the quota resets at "
        f"{iso(midnight)}. Start this run then, or ask staff for a larger quota."
    )
    retry_after_until(resp, midnight)
    assert Run.objects.get(pk=run_id).status == "ready"  # nothing changed
    Quota.objects.create(user=user, run_minutes_per_day=32)  # the user's own quota wins
    assert runs.start(run_id).status_code == 202


def test_run_minutes_per_month_come_from_the_users_quota(user, settings):
    settings.CROWNEST_QUOTA_RUN_MINUTES_PER_MONTH = 0  # no default limit
    Quota.objects.create(user=user, run_minutes_per_month=100)
    now = timezone.now()
    past_run(user, started=usage.month_start(now) + timedelta(seconds=1), minutes=60)
    past_run(user, started=usage.month_start(now) + timedelta(hours=1), minutes=40)
    runs = Runs(client_for(user))
    resp = runs.start(ready(runs))
    err = refused(resp, "runMinutesPerMonth")
    first = usage.next_month(now)
    assert err["details"] == {
        "quota": "runMinutesPerMonth",
        "scope": "user",
        "name": "alice",
        "used": 100,
        "limit": 100,
        "resetsAt": iso(first),
    }
    assert first.day == 1 and first.hour == 0 and first > now
    retry_after_until(resp, first)


def test_a_teams_minutes_count_every_members_runs_filed_under_it(user, other_user, team):
    Quota.objects.create(team=team, run_minutes_per_day=10)
    start = usage.day_start(timezone.now()) + timedelta(seconds=1)
    past_run(other_user, team=team, started=start, minutes=10)
    runs = Runs(client_for(user))
    resp = runs.start(ready(runs, team="platform"))
    err = refused(resp, "runMinutesPerDay")
    assert err["details"]["scope"] == "team" and err["details"]["name"] == "platform"
    assert err["details"]["used"] == 10 and err["details"]["limit"] == 10
    assert err["message"].startswith("Team 'platform' has used 10 of its 10 run minutes today")
    # The same user's run outside the team only meets their own quota (none).
    assert runs.start(ready(runs)).status_code == 202


def test_a_new_runs_declared_archive_must_fit_the_stored_bytes(user, settings):
    runs = Runs(client_for(user))
    first = ready(runs)
    settings.CROWNEST_QUOTA_STORED_BYTES = len(DATA) + len(OTHER) - 1
    body = {"template": "python-node", "command": "true", "reuseArchive": False}
    body["archive"] = {"sizeBytes": len(OTHER), "sha256": "1" * 64}
    resp = runs.api.post("/api/v1/workspace-runs", body, format="json")
    err = refused(resp, "storedBytes")
    assert err["details"] == {
        "quota": "storedBytes",
        "scope": "user",
        "name": "alice",
        "used": len(DATA),
        "limit": len(DATA) + len(OTHER) - 1,
        "resetsAt": None,
        "requestedBytes": len(OTHER),
        "pinnedRuns": [],
    }
    assert "DELETE /api/v1/workspace-runs/{id}" in err["message"]
    assert resp.headers["Retry-After"] == str(settings.CROWNEST_QUOTA_RETRY_SECONDS)
    assert Run.objects.count() == 1
    # The same bytes again are reused, not stored twice: they fit.
    again = {**body, "reuseArchive": True, "archive": runs.get(first)["archive"]}
    again["archive"] = {k: again["archive"][k] for k in ("sizeBytes", "sha256")}
    resp = runs.api.post("/api/v1/workspace-runs", again, format="json")
    assert resp.status_code == 201 and resp.json()["status"] == "ready"


def test_an_upload_over_the_stored_bytes_keeps_what_is_stored(user):
    runs = Runs(client_for(user))
    first = ready(runs)
    kept = Run.objects.get(pk=first)
    kept.pinned = True
    kept.save()
    stored_artifact(first, "report.txt", b"r" * 50)
    waiting = runs.create(OTHER)  # no limit yet
    Quota.objects.create(user=user, stored_bytes=len(DATA) + 50 + len(OTHER) - 1)
    resp = runs.upload(waiting["id"], OTHER)
    err = refused(resp, "storedBytes")
    assert err["details"]["used"] == len(DATA) + 50
    assert err["details"]["pinnedRuns"] == [first]
    assert f"unpin its largest pinned runs ({first})" in err["message"]
    assert "Nothing already stored was removed." in err["message"]
    assert runs.get(waiting["id"])["status"] == "awaiting_archive"
    assert storage().exists(Run.objects.get(pk=first).archive_file)
    Quota.objects.filter(user=user).update(stored_bytes=None)  # back to the default: none
    assert runs.upload(waiting["id"], OTHER).status_code == 200


def test_a_transfer_refused_at_completion_stays_open_with_its_bytes(user, settings):
    staged = Staged(client_for(user))
    run = staged.run(DATA)
    transfer = staged.create(run["id"])
    staged.send_all(transfer, DATA)
    settings.CROWNEST_QUOTA_STORED_BYTES = len(DATA) - 1
    err = refused(staged.complete(transfer), "storedBytes")
    assert err["details"]["used"] == 0 and err["details"]["requestedBytes"] == len(DATA)
    state = staged.get(transfer).json()
    assert state["status"] == "open" and state["receivedBytes"] == len(DATA)
    # A new transfer is refused before any byte is sent.
    resp = staged.api.post(f"/api/v1/workspace-runs/{run['id']}/transfers")
    refused(resp, "storedBytes")
    settings.CROWNEST_QUOTA_STORED_BYTES = len(DATA)
    assert staged.complete(transfer).status_code == 200


def test_a_teams_stored_bytes_count_a_shared_archive_once(user, other_user, team):
    mine = Runs(client_for(user))
    first = ready(mine, team="platform")
    theirs = Runs(client_for(other_user))
    shared = theirs.create(DATA, team="platform", reuseArchive=True)
    assert shared["archive"]["uploadMethod"] == "reused"
    assert usage.stored_bytes(usage.team_scope(team)) == len(DATA)
    waiting = theirs.create(OTHER, team="platform")
    Quota.objects.create(team=team, stored_bytes=len(DATA) + len(OTHER) - 1)
    err = refused(theirs.upload(waiting["id"], OTHER), "storedBytes")
    assert (err["details"]["scope"], err["details"]["name"]) == ("team", "platform")
    assert err["details"]["used"] == len(DATA)
    assert Run.objects.get(pk=first).archive_file  # nothing removed


def test_max_awaiting_archive_of_the_user_and_the_team(user, other_user, team, settings):
    settings.CROWNEST_MAX_AWAITING_ARCHIVE = 50
    Quota.objects.create(user=user, max_awaiting_archive=1)
    runs = Runs(client_for(user))
    runs.create(DATA)
    body = {"template": "python-node", "command": "true", "reuseArchive": False}
    body["archive"] = {"sizeBytes": len(DATA), "sha256": "2" * 64}
    resp = runs.api.post("/api/v1/workspace-runs", body, format="json")
    assert resp.status_code == 429
    err = error_of(resp)
    assert err["code"] == "throttled"
    assert err["details"] == {
        "retryAfterSeconds": settings.CROWNEST_AWAITING_ARCHIVE_RETRY_SECONDS,
        "awaitingArchive": 1,
        "limit": 1,
        "quota": "maxAwaitingArchive",
        "scope": "user",
        "name": "alice",
    }
    # The team's own cap counts every member's runs filed under it.
    Quota.objects.create(team=team, max_awaiting_archive=1)
    theirs = Runs(client_for(other_user))
    theirs.create(DATA, team="platform")
    resp = theirs.api.post("/api/v1/workspace-runs", {**body, "team": "platform"}, format="json")
    err = error_of(resp)
    assert resp.status_code == 429 and err["details"]["scope"] == "team"
    assert err["message"].startswith("Team 'platform' has 1 runs waiting for their archive")
    assert theirs.create(DATA)["status"] == "awaiting_archive"  # outside the team: fine
