"""Who may do what to a run (docs/api.md, "Who may do what to a run"; runs/roles.py): every cell
of the table through the API, a stranger's 404 for every action, nobody reviewing their own run,
the admin's actions asking the same table, and the table in the docs saying what the code does."""

import re

import pytest

from evidence.models import Review
from runs import roles, tasks
from runs.ending import after_end
from runs.models import Membership, Run, Team

from .helpers import ROOT, Runs, client_for, error_of, make_targz

pytestmark = pytest.mark.django_db

DATA = make_targz({"a.txt": "a"})
ROLES = ("owner", "member", "lead", "staff")

# The table of docs/api.md, as the API answers it: (action, role) -> status.
YES = {"view": 200, "start": 202, "upload": 200, "cancel": 202, "rerun": 201}
YES |= {"pin": 200, "unpin": 200, "delete": 204, "review": 201}
TABLE = {
    "view": dict.fromkeys(ROLES, True),
    "upload": dict.fromkeys(ROLES, True),
    "start": dict.fromkeys(ROLES, True),
    "cancel": dict.fromkeys(ROLES, True),
    "rerun": dict.fromkeys(ROLES, True),
    "pin": {"owner": True, "member": False, "lead": True, "staff": True},
    "unpin": {"owner": True, "member": False, "lead": True, "staff": True},
    "delete": {"owner": True, "member": False, "lead": True, "staff": True},
    "review": {"owner": False, "member": False, "lead": True, "staff": True},
}
CELLS = [(action, role) for action in TABLE for role in ROLES]


@pytest.fixture(autouse=True)
def no_worker(monkeypatch):
    """Started runs stay queued: nothing consumes their tasks here."""
    monkeypatch.setattr(tasks.execute_run, "delay_on_commit", lambda run_id: None)


@pytest.fixture
def people(django_user_model):
    """Team qa: its owner-to-be (a member), another member and a lead; staff outside the team;
    a stranger outside it."""
    team = Team.objects.create(slug="qa", name="QA")
    users = {}
    for name, role in (("owner", "member"), ("member", "member"), ("lead", "lead")):
        users[name] = django_user_model.objects.create_user(name)
        Membership.objects.create(team=team, user=users[name], role=role)
    users["staff"] = django_user_model.objects.create_user("staff", is_staff=True)
    users["stranger"] = django_user_model.objects.create_user("stranger")
    return users


def team_run(owner_api, *, status="awaiting_archive") -> str:
    """A run of team qa owned by `owner_api`'s user, brought to `status`."""
    runs = Runs(owner_api)
    run = runs.create(DATA, team="qa")
    if status in ("ready", "ended"):
        assert runs.upload(run["id"], DATA).status_code == 200
    if status == "ended":  # canceled before its start, its bundle written here (as a worker does)
        assert runs.cancel(run["id"]).status_code == 202
        after_end(run["id"])
    return run["id"]


def view(api, run_id: str):
    """Every read of the view row; the first that is not 200, else the run's."""
    url = f"/api/v1/workspace-runs/{run_id}"
    for part in ("/events", "/artifacts", "/evidence", "/events.ndjson", "/reviews", ""):
        resp = api.get(url + part)
        if resp.status_code != 200:
            return resp
    return resp


def act(api, action: str, run_id: str):
    url = f"/api/v1/workspace-runs/{run_id}"
    calls = {
        "view": lambda: view(api, run_id),
        "upload": lambda: Runs(api).upload(run_id, DATA),
        "start": lambda: api.post(f"{url}/start"),
        "cancel": lambda: api.post(f"{url}/cancel"),
        "rerun": lambda: api.post(f"{url}/rerun"),
        "pin": lambda: api.patch(url, {"pinned": True}, format="json"),
        "unpin": lambda: api.patch(url, {"pinned": False}, format="json"),
        "delete": lambda: api.delete(url),
        "review": lambda: api.post(f"{url}/reviews", {"verdict": "approve"}, format="json"),
    }
    return calls[action]()


NEEDS = {"start": "ready", "review": "ended", "view": "ended"}


@pytest.mark.parametrize("action,role", CELLS)
def test_each_cell_of_the_table(people, action, role):
    owner = client_for(people["owner"])
    run_id = team_run(owner, status=NEEDS.get(action, "awaiting_archive"))
    if action == "unpin":
        Run.objects.filter(pk=run_id).update(pinned=True)
    before = Run.objects.get(pk=run_id)
    resp = act(client_for(people[role]), action, run_id)
    if TABLE[action][role]:
        assert resp.status_code == YES[action], resp.content
    else:
        assert resp.status_code == 403, resp.content
        err = error_of(resp)
        assert err["code"] == "forbidden"
        assert (
            role in err["details"]["roles"]
            and role not in err["details"]["allowed"]
            or (action == "review" and role == "owner")
        )
        assert Run.objects.get(pk=run_id).pinned == before.pinned  # nothing changed
        assert Run.objects.filter(pk=run_id).exists()
        assert not Review.objects.filter(run_id=run_id).exists()


def test_what_each_allowed_action_did(people):
    """The 2xx answers above did their work: pinned, deleted, reviewed by the caller, re-run
    as the caller's own run."""
    owner, lead = client_for(people["owner"]), client_for(people["lead"])
    run_id = team_run(owner)
    assert act(lead, "pin", run_id).json()["pinned"] is True
    new = act(client_for(people["member"]), "rerun", run_id).json()
    assert new["owner"] == "member" and new["rerunOf"] == run_id
    assert act(lead, "delete", run_id).status_code == 204
    assert not Run.objects.filter(pk=run_id).exists()
    assert owner.get(f"/api/v1/workspace-runs/{run_id}").status_code == 404
    ended = team_run(owner, status="ended")
    review = act(client_for(people["staff"]), "review", ended).json()
    assert review["reviewer"] == "staff"


@pytest.mark.parametrize("action", list(TABLE))
def test_a_stranger_gets_404_for_every_action(people, action):
    run_id = team_run(client_for(people["owner"]), status=NEEDS.get(action, "awaiting_archive"))
    resp = act(client_for(people["stranger"]), action, run_id)
    assert resp.status_code == 404, resp.content
    assert error_of(resp)["code"] == "not_found"


@pytest.mark.parametrize("who", ["lead", "staff"])
def test_nobody_reviews_their_own_run(people, who):
    """A lead of the team and staff review others' runs, never one they own."""
    mine = client_for(people[who])
    run_id = team_run(mine, status="ended")
    resp = act(mine, "review", run_id)
    assert resp.status_code == 403, resp.content
    err = error_of(resp)
    assert err["code"] == "forbidden" and "own run" in err["message"]
    assert "owner" in err["details"]["roles"]
    assert act(mine, "pin", run_id).status_code == 200  # as owner (and lead or staff)


def test_the_review_queue_leaves_out_ones_own_runs(people, client):
    lead = client_for(people["lead"])
    own, theirs = team_run(lead, status="ended"), team_run(lead, status="ended")
    Run.objects.filter(pk=theirs).update(owner=people["owner"])
    client.force_login(people["lead"])
    page = client.get("/reviews").content.decode()
    assert theirs in page and own not in page


def test_a_started_run_is_not_deleted(people):
    owner = client_for(people["owner"])
    run_id = team_run(owner, status="ready")
    assert act(owner, "start", run_id).status_code == 202
    resp = act(owner, "delete", run_id)
    assert resp.status_code == 409, resp.content
    err = error_of(resp)
    assert err["code"] == "invalid_state"
    assert err["details"] == {"status": "queued", "allowed": ["awaiting_archive", "ready"]}
    ended = team_run(owner, status="ended")
    assert error_of(act(owner, "delete", ended))["details"]["status"] == "canceled"
    assert Run.objects.filter(pk__in=[run_id, ended]).count() == 2


def test_admin_actions_ask_the_same_table(people, client, django_user_model):
    """The admin is staff's; its pin action goes through runs/roles.py and the service."""
    run_id = team_run(client_for(people["owner"]))
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))
    body = {"action": "pin_runs", "_selected_action": [run_id]}
    assert client.post("/admin/runs/run/", body).status_code == 302
    assert Run.objects.get(pk=run_id).pinned
    assert roles.run_may(people["staff"], Run.objects.get(pk=run_id), roles.Action.PIN)
    assert not roles.run_may(people["member"], Run.objects.get(pk=run_id), roles.Action.PIN)


def docs_table() -> dict[str, dict[str, str]]:
    text = (ROOT / "docs" / "api.md").read_text()
    section = text.split("## Who may do what to a run", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    out = {}
    for row in rows:
        label, *cells = [c.strip() for c in row.strip("|").split("|")]
        out[label] = dict(zip(ROLES, cells, strict=True))
    return out


DOC_ROWS = {
    "view": roles.Action.VIEW,
    "start": roles.Action.START,
    "cancel": roles.Action.CANCEL,
    "rerun": roles.Action.RERUN,
    "pin": roles.Action.PIN,
    "delete": roles.Action.DELETE,
    "review": roles.Action.REVIEW,
}


def test_the_docs_table_is_the_code_table():
    table = docs_table()
    seen = set()
    for label, cells in table.items():
        for word in re.findall(r"\b(view|start|cancel|rerun|pin|delete|review)\b", label):
            action = DOC_ROWS[word]
            seen.add(action)
            for role, cell in cells.items():
                allowed = role in roles.MAY[action] and not (
                    role == "owner" and action in roles.NEVER_OWN
                )
                assert cell.startswith("yes") == allowed, (label, role, cell)
                if role == "owner" and action in roles.NEVER_OWN:
                    assert cell == "never one's own run"
    assert seen == set(roles.Action)
