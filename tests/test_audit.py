"""The audit log (docs/operations.md, "Audit"): every state-changing action by a person, a token or
an operator's command is exactly one append-only row naming who, from where, what and how it
ended; staff read it in the admin and at GET /api/v1/audit, nobody else sees it."""

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.utils import ProgrammingError
from django.test import Client

from evidence.models import EvidenceKey
from ops.models import AppendOnly, AuditEntry
from runs.ending import after_end
from runs.models import ApiToken, Run, Team, TemplateVersion

from .helpers import archive_meta, client_for, make_targz

pytestmark = pytest.mark.django_db

DATA = make_targz({"a.txt": "a"})


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("root", password="pw-root", is_staff=True)


@pytest.fixture
def staff_api(staff):
    return client_for(staff)


def token_of(user) -> int:
    return ApiToken.objects.filter(user=user).latest("pk").pk


def one(action: str, **match) -> AuditEntry:
    """The single row of `action` (and `match`), checked to be the only one."""
    found = list(AuditEntry.objects.filter(action=action, **match))
    assert len(found) == 1, (action, match, [(r.action, r.object_id, r.actor) for r in found])
    return found[0]


def new_run(api, **fields) -> dict:
    body = {"template": "python-node", "command": "true", "archive": archive_meta(DATA)}
    resp = api.post("/api/v1/workspace-runs", {**body, "reuseArchive": False, **fields}, "json")
    assert resp.status_code == 201, resp.content
    return resp.json()


def test_each_api_action_is_one_row_with_its_actor_token_and_outcome(api, user, staff_api, staff):
    run = new_run(api, HTTP_USER_AGENT="crownest-cli/1.0")
    row = one("run.create", object_id=run["id"])
    assert (row.actor, row.actor_id, row.token_id, row.staff) == (
        "alice",
        user.pk,
        token_of(user),
        False,
    )
    assert row.object_type == "run" and row.outcome == "ok" and row.status_code == 201
    assert row.address == "127.0.0.1" and row.request_id

    url = f"/api/v1/workspace-runs/{run['id']}"
    assert api.put(f"{url}/archive", DATA, content_type="application/gzip").status_code == 200
    assert api.post(f"{url}/start").status_code == 202
    assert api.patch(url, {"pinned": True}, format="json").status_code == 200
    assert api.patch(url, {"pinned": False}, format="json").status_code == 200
    assert api.post(f"{url}/cancel").status_code == 202
    rerun = api.post(f"{url}/rerun")
    assert rerun.status_code == 201
    for action in ["run.upload", "run.start", "run.pin", "run.unpin", "run.cancel"]:
        row = one(action, object_id=run["id"])
        assert row.actor == "alice" and row.token_id == token_of(user) and row.outcome == "ok"
    assert one("run.rerun", object_id=run["id"]).details == {"newRunId": rerun.json()["id"]}

    doomed = new_run(api)
    assert api.delete(f"/api/v1/workspace-runs/{doomed['id']}").status_code == 204
    row = one("run.delete", object_id=doomed["id"])
    assert row.actor == "alice" and row.outcome == "ok" and row.status_code == 204

    # A refused action is recorded too, with the error code as its outcome.
    assert api.post(f"{url}/cancel").status_code == 409
    refused = AuditEntry.objects.filter(action="run.cancel", object_id=run["id"]).first()
    assert refused.outcome == "invalid_state" and refused.status_code == 409

    # The staff's template actions.
    made = staff_api.post("/api/v1/templates", {"name": "extras", "basedOn": "python-node"}, "json")
    assert made.status_code == 201, made.content
    TemplateVersion.objects.filter(template_id="extras").update(
        status="ready", image="crownest/tpl-extras:v1", image_digest="sha256:" + "e" * 64
    )
    assert (
        staff_api.patch("/api/v1/templates/extras", {"pipPackages": ["idna"]}, "json").status_code
        == 200
    )
    body = {"imageDigest": "sha256:" + "e" * 64}
    assert staff_api.post("/api/v1/templates/extras/retire", body, "json").status_code == 200
    for action in ["template.create", "template.patch", "template.retire"]:
        row = one(action, object_id="extras")
        assert row.actor == "root" and row.staff and row.token_id == token_of(staff)


def test_reviews_through_the_api_and_the_page_name_their_verdict(api, staff_api, staff):
    run = new_run(api)
    assert api.post(f"/api/v1/workspace-runs/{run['id']}/cancel").status_code == 202
    after_end(run["id"])  # the bundle and its signature, done here where the key is
    url = f"/api/v1/workspace-runs/{run['id']}/reviews"
    assert staff_api.post(url, {"verdict": "approve"}, "json").status_code == 201
    row = one("review.approve", object_id=run["id"])
    assert row.actor == "root" and row.outcome == "ok" and "reviewId" in row.details

    page = Client()
    page.force_login(staff)
    assert page.post(f"/runs/{run['id']}/review", {"verdict": "reject"}).status_code == 302
    row = one("review.reject", object_id=run["id"])
    assert row.actor == "root" and row.token_id is None and row.outcome == "ok"
    # The owner may not review their own run: the form still redirects, the row says refused.
    owner = Client()
    owner.force_login(Run.objects.get(pk=run["id"]).owner)
    owner.post(f"/runs/{run['id']}/review", {"verdict": "approve"})
    row = one("review.approve", object_id=run["id"], actor="alice")
    assert row.outcome == "refused"


def test_admin_actions_are_rows_per_object_with_the_staff_member(api, staff, monkeypatch):
    from runs import admin as runs_admin

    monkeypatch.setattr(runs_admin.reap, "delay", lambda: None)
    staff.is_superuser = True  # the admin's permissions
    staff.save()
    admin = Client()
    admin.force_login(staff)
    first, second = new_run(api), new_run(api)
    ids = [first["id"], second["id"]]
    resp = admin.post("/admin/runs/run/", {"action": "cancel_runs", "_selected_action": ids})
    assert resp.status_code == 302
    for run_id in ids:
        row = one("run.cancel", object_id=run_id)
        assert row.actor == "root" and row.staff and row.details == {"via": "admin"}
    admin.post("/admin/runs/run/", {"action": "run_reaper", "_selected_action": ids})
    assert one("reaper.run").object_id == ""

    doomed = new_run(api)
    resp = admin.post(f"/admin/runs/run/{doomed['id']}/delete/", {"post": "yes"})
    assert resp.status_code == 302 and not Run.objects.filter(pk=doomed["id"]).exists()
    assert one("run.delete", object_id=doomed["id"]).actor == "root"

    token = ApiToken.objects.filter(user__username="alice").latest("pk")
    admin.post("/admin/runs/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert one("token.revoke", object_id=str(token.pk)).actor == "root"

    resp = admin.post("/admin/runs/team/add/", {"slug": "qa", "name": "QA", **EMPTY_INLINE})
    assert resp.status_code == 302, resp.content[:2000]
    team = Team.objects.get(slug="qa")
    assert one("admin.add", object_id=str(team.pk)).object_type == "team"
    resp = admin.post(
        f"/admin/runs/team/{team.pk}/change/", {"slug": "qa", "name": "Q", **EMPTY_INLINE}
    )
    assert resp.status_code == 302
    assert one("admin.change", object_id=str(team.pk)).actor == "root"


EMPTY_INLINE = {
    "membership_set-TOTAL_FORMS": "0",
    "membership_set-INITIAL_FORMS": "0",
    "membership_set-MIN_NUM_FORMS": "0",
    "membership_set-MAX_NUM_FORMS": "1000",
    "quota-TOTAL_FORMS": "0",
    "quota-INITIAL_FORMS": "0",
    "quota-MIN_NUM_FORMS": "0",
    "quota-MAX_NUM_FORMS": "1",
}


def test_signing_in_and_out_and_failing_to(user):
    browser = Client(REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT="Firefox")
    resp = browser.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert resp.status_code == 200
    failed = one("auth.signin", outcome="failed")
    assert failed.actor == "" and failed.details == {"username": "alice"}
    assert failed.address == "198.51.100.7" and failed.user_agent == "Firefox"
    resp = browser.post("/accounts/login/", {"username": "alice", "password": "pw-alice"})
    assert resp.status_code == 302
    ok = one("auth.signin", outcome="ok")
    assert ok.actor == "alice" and ok.object_id == str(user.pk) and ok.address == "198.51.100.7"
    browser.post("/accounts/logout/")
    assert one("auth.signout").actor == "alice"


def test_operators_commands_name_the_os_user(tmp_path, user):
    out = io.StringIO()
    call_command("issue_token", "alice", stdout=out)
    token = ApiToken.objects.get(prefix=out.getvalue().strip()[:10])
    row = one("token.issue", object_id=str(token.pk))
    assert row.actor.startswith("system:") and row.user_agent == "manage.py issue_token"
    assert row.details["user"] == "alice" and row.details["prefix"] == token.prefix
    key_file = tmp_path / "key.pem"
    call_command("evidence_keys", "create", "--file", str(key_file), stdout=out)
    first = EvidenceKey.objects.latest("created_at")
    assert one("evidence_key.create", object_id=first.keyid).actor.startswith("system:")
    call_command("evidence_keys", "rotate", "--file", str(key_file), stdout=out)
    rotated = one("evidence_key.rotate")
    assert rotated.details["retired"] == first.keyid and rotated.object_id != first.keyid


def test_nothing_is_recorded_for_reads_or_unauthenticated_writes(api, client):
    api.get("/api/v1/workspace-runs")
    assert client.post("/api/v1/workspace-runs", {}, "application/json").status_code == 401
    bad = Client(HTTP_AUTHORIZATION="Bearer cn_not-a-token")
    assert bad.post("/api/v1/workspace-runs", {}, "application/json").status_code == 401
    assert not AuditEntry.objects.exists()


def test_rows_are_append_only_in_the_orm_and_the_database(api):
    new_run(api)
    row = AuditEntry.objects.get()
    row.outcome = "changed"
    with pytest.raises(AppendOnly):
        row.save()
    with pytest.raises(AppendOnly):
        row.delete()
    with pytest.raises(AppendOnly):
        AuditEntry.objects.filter(pk=row.pk).update(outcome="changed")
    with pytest.raises(AppendOnly):
        AuditEntry.objects.all().delete()
    with pytest.raises(ProgrammingError, match="append-only"), connection.cursor() as cur:
        cur.execute("UPDATE ops_auditentry SET outcome = 'changed'")


def test_only_staff_read_the_log_at_the_api_and_in_the_admin(api, user, staff_api, staff, client):
    run = new_run(api)
    assert api.get("/api/v1/audit").status_code == 404
    assert client.get("/api/v1/audit").status_code == 401
    page = staff_api.get("/api/v1/audit", {"actor": "alice", "action": "run.", "objectType": "run"})
    assert page.status_code == 200
    [entry] = page.json()["results"]
    assert entry["action"] == "run.create" and entry["objectId"] == run["id"]
    assert entry["tokenId"] == token_of(user) and entry["staff"] is False
    assert set(entry) >= {"at", "actor", "address", "userAgent", "outcome", "details"}
    assert staff_api.get("/api/v1/audit", {"objectId": "wr_none"}).json()["count"] == 0
    assert staff_api.get("/api/v1/audit", {"pageSize": "0"}).status_code == 400

    admin = Client()
    admin.force_login(staff)
    listed = admin.get("/admin/ops/auditentry/", {"action": "run.create"})
    assert listed.status_code == 200 and run["id"] in listed.content.decode()
    row = AuditEntry.objects.filter(action="run.create").get()
    assert admin.get(f"/admin/ops/auditentry/{row.pk}/change/").status_code == 200
    assert admin.post(f"/admin/ops/auditentry/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin.get("/admin/ops/auditentry/add/").status_code == 403
    assert AuditEntry.objects.filter(pk=row.pk).exists()
    nobody = Client()
    nobody.force_login(user)
    assert nobody.get("/admin/ops/auditentry/").status_code == 302  # to the admin's sign-in


def test_hostile_bodies_are_recorded_without_failing_the_answer(api, staff_api):
    """What the body says is read for the row (pinned, verdict) whatever JSON it holds."""
    run = new_run(api)
    url = f"/api/v1/workspace-runs/{run['id']}"
    assert api.patch(url, {"pinned": {}}, format="json").status_code == 400
    assert one("run.update", object_id=run["id"]).outcome == "invalid_request"
    body = {"verdict": {"a": 1}, "comment": ""}
    assert staff_api.post(f"{url}/reviews", body, format="json").status_code in (400, 409)
    assert one("review.create", object_id=run["id"]).actor == "root"
    made = staff_api.post("/api/v1/templates", {"name": "x\x00y", "basedOn": "python-node"}, "json")
    assert made.status_code == 400
    assert one("template.create").object_id == "x\ufffdy"  # stored, NUL replaced
