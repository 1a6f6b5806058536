"""Teams, quotas and usage through the API, the admin and the runs list (docs/api.md, "Teams,
quotas and usage"): usage equals the sum over the runs, each caller sees only their own scopes
(staff everyone), only staff set quotas, and every change is audited."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ops.models import AuditEntry
from runs.ids import iso
from runs.models import Membership, Quota, Run, Team
from runs.scheduling import usage

from .helpers import Runs, client_for, error_of, make_targz, stored_artifact

pytestmark = pytest.mark.django_db
DATA = make_targz({"a.txt": "a" * 100})
NO_LIMITS = dict.fromkeys(
    ["maxRunning", "runMinutesPerDay", "runMinutesPerMonth", "storedBytes", "maxAwaitingArchive"]
)


@pytest.fixture(autouse=True)
def no_default_limits(settings):
    for name in ("MAX_RUNNING", "TEAM_MAX_RUNNING", "RUN_MINUTES_PER_DAY"):
        setattr(settings, f"CROWNEST_QUOTA_{name}", 0)
    settings.CROWNEST_QUOTA_RUN_MINUTES_PER_MONTH = 0
    settings.CROWNEST_QUOTA_STORED_BYTES = 0
    settings.CROWNEST_MAX_AWAITING_ARCHIVE = 50


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("root", password="pw-root", is_staff=True)


@pytest.fixture
def team(user):
    team = Team.objects.create(slug="platform", name="Platform")
    Membership.objects.create(team=team, user=user, role="lead")
    return team


def timed_run(owner, *, started, finished=None, team=None, status="succeeded") -> Run:
    return Run.objects.create(
        owner=owner,
        team=team,
        template="python-node",
        command="true",
        timeout_seconds=600,
        archive_size_bytes=1,
        archive_sha256="0" * 64,
        status=status,
        started_at=started,
        finished_at=finished,
    )


def by_name(rows) -> dict:
    return {(row["scope"], row["name"]): row for row in rows}


def test_usage_is_the_sum_over_the_runs(user, team):
    now = timezone.now()
    day, month = usage.day_start(now), usage.month_start(now)
    today = day + timedelta(seconds=5)
    timed_run(user, started=today, finished=today + timedelta(minutes=12, seconds=30))
    timed_run(user, started=today, finished=today + timedelta(minutes=7), team=team)
    timed_run(user, started=month - timedelta(days=3), finished=month - timedelta(days=2))
    going = timed_run(user, started=now - timedelta(minutes=5), status="running")
    if going.started_at < day:  # just after midnight: the running run started yesterday
        going.started_at = day
        going.save()
    earlier = []
    if month < day:  # an earlier day of this month counts for the month only
        earlier.append(timed_run(user, started=month, finished=month + timedelta(minutes=30)))
    runs = Runs(client_for(user))
    ready = runs.create(DATA)
    assert runs.upload(ready["id"], DATA).status_code == 200
    runs.create(DATA)  # awaiting its archive
    stored_artifact(ready["id"], "out.txt", b"x" * 40)
    rows = by_name(runs.api.get("/api/v1/usage").json())
    assert set(rows) == {("user", "alice"), ("team", "platform")}
    mine, theirs = rows[("user", "alice")], rows[("team", "platform")]
    after = timezone.now()
    running = (after - going.started_at).total_seconds() / 60
    today_expected = 12.5 + 7 + running
    used = mine["used"]
    assert used["runningRuns"] == 1 and used["awaitingArchive"] == 1
    assert today_expected - 0.1 <= used["runMinutesToday"] <= today_expected + 0.01
    month_expected = today_expected + 30 * len(earlier)
    assert month_expected - 0.1 <= used["runMinutesThisMonth"] <= month_expected + 0.01
    assert used["storedBytes"] == len(DATA) + 40
    assert theirs["used"] == {
        "runningRuns": 0,
        "runMinutesToday": 7,
        "runMinutesThisMonth": 7,
        "storedBytes": 0,
        "awaitingArchive": 0,
    }
    assert mine["limits"] == {**NO_LIMITS, "maxAwaitingArchive": 50}
    assert theirs["limits"] == NO_LIMITS
    assert mine["resetsAt"] == {
        "day": iso(usage.next_day(now)),
        "month": iso(usage.next_month(now)),
    }


def test_each_caller_sees_only_their_own_and_their_teams_usage(user, other_user, team, staff):
    Team.objects.create(slug="elsewhere", name="Elsewhere")
    timed_run(other_user, started=timezone.now(), finished=timezone.now())
    assert set(by_name(client_for(user).get("/api/v1/usage").json())) == {
        ("user", "alice"),
        ("team", "platform"),
    }
    assert set(by_name(client_for(other_user).get("/api/v1/usage").json())) == {("user", "mallory")}
    seen = set(by_name(client_for(staff).get("/api/v1/usage").json()))
    assert {("user", "mallory"), ("user", "root"), ("team", "elsewhere")} <= seen


def test_teams_list_the_callers_teams_with_role_and_quotas(user, other_user, team, staff):
    Quota.objects.create(team=team, run_minutes_per_day=90)
    resp = client_for(user).get("/api/v1/teams")
    assert resp.json() == [
        {"name": "platform", "role": "lead", "quotas": {**NO_LIMITS, "runMinutesPerDay": 90}}
    ]
    assert client_for(other_user).get("/api/v1/teams").json() == []
    assert [t["role"] for t in client_for(staff).get("/api/v1/teams").json()] == [None]


def test_only_staff_set_quotas_and_each_change_is_audited(user, team, staff, settings):
    body = {"quotas": {"runMinutesPerDay": 120, "storedBytes": 10**12}}
    for path in ("/api/v1/teams/platform", "/api/v1/users/alice", "/api/v1/teams/nope"):
        resp = client_for(user).patch(path, body, format="json")
        assert resp.status_code == 403 and error_of(resp)["code"] == "forbidden"
    assert not Quota.objects.exists()
    admin = client_for(staff)
    resp = admin.patch("/api/v1/teams/platform", body, format="json")
    assert resp.status_code == 200, resp.content
    assert resp.json() == {
        "name": "platform",
        "role": None,
        "quotas": {**NO_LIMITS, "runMinutesPerDay": 120, "storedBytes": 10**12},
    }
    refused = AuditEntry.objects.filter(action="quota.set", actor="alice")
    assert sorted(refused.values_list("status_code", flat=True)) == [403, 403, 403]
    row = AuditEntry.objects.get(action="quota.set", object_type="team", actor="root")
    assert (row.actor, row.object_id, row.status_code) == ("root", "platform", 200)
    assert row.details["before"] == {"runMinutesPerDay": None, "storedBytes": None}
    assert row.details["after"] == body["quotas"]
    resp = admin.patch("/api/v1/users/alice", {"quotas": {"maxAwaitingArchive": 3}}, format="json")
    assert resp.json() == {"name": "alice", "quotas": {**NO_LIMITS, "maxAwaitingArchive": 3}}
    # null goes back to the default; the other quotas stay.
    settings.CROWNEST_QUOTA_RUN_MINUTES_PER_DAY = 45
    resp = admin.patch(
        "/api/v1/teams/platform", {"quotas": {"runMinutesPerDay": None}}, format="json"
    )
    assert resp.json()["quotas"]["runMinutesPerDay"] == 45
    assert resp.json()["quotas"]["storedBytes"] == 10**12
    assert AuditEntry.objects.filter(action="quota.set", actor="root").count() == 3


@pytest.mark.parametrize(
    "quotas, field",
    [
        ({"maxRunning": -1}, "quotas.maxRunning"),
        ({"runMinutesPerDay": 1.5}, "quotas.runMinutesPerDay"),
        ({"storedBytes": "5"}, "quotas.storedBytes"),
        ({"runMinutesPerMonth": True}, "quotas.runMinutesPerMonth"),
        ({"maxAwaitingArchive": 2**31}, "quotas.maxAwaitingArchive"),
        ({"maxRuning": 1}, "quotas.maxRuning"),
    ],
)
def test_bad_quotas_are_refused(team, staff, quotas, field):
    resp = client_for(staff).patch("/api/v1/teams/platform", {"quotas": quotas}, format="json")
    assert resp.status_code == 400, resp.content
    err = error_of(resp)
    assert err["code"] == "invalid_request" and field in err["details"]["fields"]
    assert not Quota.objects.exists()


def test_unknown_teams_and_users_are_404_for_staff(staff):
    admin = client_for(staff)
    body = {"quotas": {"maxRunning": 1}}
    for path in ("/api/v1/teams/nope", "/api/v1/users/nobody"):
        resp = admin.patch(path, body, format="json")
        assert resp.status_code == 404 and error_of(resp)["code"] == "not_found"


def test_the_runs_list_shows_usage_against_each_limit(client, user, team):
    Quota.objects.create(user=user, run_minutes_per_day=60)
    start = usage.day_start(timezone.now()) + timedelta(seconds=1)
    timed_run(user, started=start, finished=start + timedelta(minutes=15))
    client.force_login(user)
    page = client.get("/").content.decode()
    assert 'id="usage-title"' in page
    assert "15 / 60" in page and 'value="0.250"' in page
    assert "Team platform" in page and "(no limit)" in page


def test_quotas_are_inlines_of_team_and_user_in_the_admin(client, staff, user, team):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    pages = {
        f"/admin/runs/team/{team.pk}/change/": 'name="quota-0-run_minutes_per_day"',
        f"/admin/auth/user/{user.pk}/change/": 'name="crownest_quota-0-run_minutes_per_day"',
    }
    for path, field in pages.items():
        page = client.get(path)
        assert page.status_code == 200 and field in page.content.decode(), path
