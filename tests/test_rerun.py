"""POST /api/v1/workspace-runs/{id}/rerun without a sandbox: what the new run copies, when it is
ready at once, that the stored archive is shared and not copied, and who may re-run what."""

import pytest

from runs.blobs import storage
from runs.models import Membership, Run, Team

from .helpers import archive_meta, client_for, error_of, make_targz

pytestmark = pytest.mark.django_db

DATA = make_targz({"run.sh": "echo hi\n", "src/a.py": "print(1)\n"})
SAME = ("template", "command", "artifactPaths", "timeoutSeconds", "env", "team")


def rerun(api, run_id):
    return api.post(f"/api/v1/workspace-runs/{run_id}/rerun")


@pytest.fixture
def ready_run(runs):
    run = runs.create(
        DATA,
        command=["sh", "run.sh"],
        artifactPaths=["out/", "reports/*.xml"],
        timeoutSeconds=120,
        env={"CI": "true", "MODE": "x y"},
    )
    assert runs.upload(run["id"], DATA).status_code == 200
    return runs.get(run["id"])


def test_rerun_is_201_ready_at_once_with_the_same_fields(api, ready_run):
    resp = rerun(api, ready_run["id"])
    assert resp.status_code == 201, resp.content
    new = resp.json()
    assert new["id"] != ready_run["id"]
    assert new["rerunOf"] == ready_run["id"] and ready_run["rerunOf"] is None
    assert {k: new[k] for k in SAME} == {k: ready_run[k] for k in SAME}
    assert new["status"] == "ready"
    assert new["archive"]["uploadMethod"] == "reused" and new["archive"]["verifiedAt"]
    for key in ("sizeBytes", "sha256", "filename"):
        assert new["archive"][key] == ready_run["archive"][key]
    assert new["keepSandbox"] is False and new["owner"] == "alice"
    # The new run's own event log: created, then ready, like any run whose archive arrived.
    events = api.get(f"/api/v1/workspace-runs/{new['id']}/events").json()["events"]
    assert [(e["type"], e["data"]["status"]) for e in events] == [
        ("status", "awaiting_archive"),
        ("status", "ready"),
    ]
    assert api.get(f"/api/v1/workspace-runs/{new['id']}").json()["rerunOf"] == ready_run["id"]


def test_the_stored_archive_is_shared_not_copied(api, ready_run, settings):
    before = sorted(p.name for p in settings.MEDIA_ROOT.rglob("*") if p.is_file())
    new = rerun(api, ready_run["id"]).json()
    original, copy = Run.objects.get(pk=ready_run["id"]), Run.objects.get(pk=new["id"])
    assert copy.archive_file == original.archive_file and storage().exists(copy.archive_file)
    assert (copy.archive_file_count, copy.archive_expanded_bytes) == (
        original.archive_file_count,
        original.archive_expanded_bytes,
    )
    after = sorted(p.name for p in settings.MEDIA_ROOT.rglob("*") if p.is_file())
    assert after == before  # no new file
    # A re-run of the re-run still points at the one stored file.
    third = rerun(api, new["id"]).json()
    assert third["rerunOf"] == new["id"] and third["status"] == "ready"
    assert Run.objects.get(pk=third["id"]).archive_file == original.archive_file


def test_without_a_stored_archive_the_rerun_awaits_one(api, runs, ready_run):
    # The original never got its archive: the re-run must be given the same bytes.
    bare = runs.create(DATA, command="true")
    new = rerun(api, bare["id"]).json()
    assert new["status"] == "awaiting_archive" and new["archive"]["uploadMethod"] is None
    assert runs.upload(new["id"], DATA).status_code == 200
    # The stored file of a ready run went missing (storage lost it): the same answer.
    storage().delete(Run.objects.get(pk=ready_run["id"]).archive_file)
    lost = rerun(api, ready_run["id"]).json()
    assert lost["status"] == "awaiting_archive"
    wrong = make_targz({"other": "bytes"})
    resp = runs.upload(lost["id"], wrong)
    assert resp.status_code == 422 and error_of(resp)["code"].startswith("archive_")
    assert runs.upload(lost["id"], DATA).json()["status"] == "ready"


def test_rerun_of_an_ended_run_and_then_start(api, runs):
    run = runs.create(DATA)
    assert runs.upload(run["id"], DATA).status_code == 200
    assert runs.cancel(run["id"]).json()["status"] == "canceled"
    new = rerun(api, run["id"]).json()
    assert new["status"] == "ready"
    assert runs.start(new["id"]).json()["status"] == "queued"


def test_others_cannot_rerun_and_team_members_can(api, other_api, other_user, user):
    team = Team.objects.create(slug="platform", name="Platform")
    Membership.objects.create(team=team, user=user)
    body = {"template": "python-node", "command": "true", "archive": archive_meta(DATA)}
    private = api.post("/api/v1/workspace-runs", body, format="json").json()
    resp = rerun(other_api, private["id"])
    assert resp.status_code == 404 and error_of(resp)["code"] == "not_found"
    assert rerun(other_api, "wr_nope").status_code == 404
    shared = api.post("/api/v1/workspace-runs", {**body, "team": "platform"}, format="json").json()
    Membership.objects.create(team=team, user=other_user)
    resp = rerun(other_api, shared["id"])
    assert resp.status_code == 201, resp.content
    new = resp.json()
    assert new["owner"] == "mallory" and new["team"] == "platform"
    # A former member still sees nothing of the team's runs: 404, as for any stranger.
    Membership.objects.filter(user=other_user).delete()
    assert rerun(other_api, shared["id"]).status_code == 404


def test_rerun_needs_authentication(client, ready_run):
    resp = client.post(f"/api/v1/workspace-runs/{ready_run['id']}/rerun")
    assert resp.status_code == 401


def test_schema_documents_rerun(api):
    schema = api.get("/api/v1/schema/", {"format": "json"}).json()
    op = schema["paths"]["/api/v1/workspace-runs/{run_id}/rerun"]["post"]
    assert op["operationId"] == "rerunRun"
    ref = op["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    run = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert "rerunOf" in run["properties"]


def test_staff_rerun_of_a_private_run_is_staffs_own(django_user_model, api, ready_run):
    admin = django_user_model.objects.create_user("root", is_staff=True)
    new = rerun(client_for(admin), ready_run["id"]).json()
    assert new["owner"] == "root" and new["status"] == "ready"
    # The original owner does not see the staff member's run.
    assert api.get(f"/api/v1/workspace-runs/{new['id']}").status_code == 404
