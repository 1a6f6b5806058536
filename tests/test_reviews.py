"""Reviews of Evidence Bundles through the API: who may read, who may write, what is recorded."""

import pytest

from evidence.models import Review
from runs.ending import after_end
from runs.models import Membership, Team

from .helpers import archive_meta, client_for, make_targz

pytestmark = pytest.mark.django_db


@pytest.fixture
def team_run(user, django_user_model):
    """An ended run of team qa, owned by `user` (a member), with its Evidence Bundle."""
    team = Team.objects.create(slug="qa", name="QA")
    Membership.objects.create(team=team, user=user)
    meta = archive_meta(make_targz({"a": "x"}))
    api = client_for(user)
    run = api.post(
        "/api/v1/workspace-runs",
        {"template": "python-node", "command": "true", "archive": meta, "team": "qa"},
        format="json",
    ).json()
    # Canceled before start: the run ends at once; the rest of its ending (the bundle and its
    # signature) is a worker's task, done here in-process, where the signing key is.
    assert api.post(f"/api/v1/workspace-runs/{run['id']}/cancel").json()["status"] == "canceled"
    after_end(run["id"])
    return team, run["id"]


def make_lead(team, django_user_model, name="lead"):
    lead = django_user_model.objects.create_user(name)
    Membership.objects.create(team=team, user=lead, role="lead")
    return lead


def test_lead_approves_and_everyone_on_the_team_reads_it(team_run, django_user_model, api):
    team, run_id = team_run
    lead = client_for(make_lead(team, django_user_model))
    url = f"/api/v1/workspace-runs/{run_id}/reviews"
    resp = lead.post(url, {"verdict": "approve", "comment": "fine"}, format="json")
    assert resp.status_code == 201, resp.content
    review = resp.json()
    evidence = api.get(f"/api/v1/workspace-runs/{run_id}/evidence")
    assert review["evidenceSha256"] == evidence["X-Evidence-Sha256"]
    assert review["reviewer"] == "lead" and review["verdict"] == "approve"
    assert api.get(url).json() == [review]
    assert Review.objects.get().comment == "fine"


def test_member_gets_403_and_stranger_404(team_run, api, other_api):
    _, run_id = team_run
    url = f"/api/v1/workspace-runs/{run_id}/reviews"
    resp = api.post(url, {"verdict": "approve"}, format="json")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"
    assert other_api.post(url, {"verdict": "approve"}, format="json").status_code == 404
    assert other_api.get(url).status_code == 404
    assert not Review.objects.exists()


def test_bad_verdict_is_400(team_run, django_user_model):
    team, run_id = team_run
    lead = client_for(make_lead(team, django_user_model))
    resp = lead.post(
        f"/api/v1/workspace-runs/{run_id}/reviews", {"verdict": "maybe"}, format="json"
    )
    assert resp.status_code == 400
    assert "verdict" in resp.json()["error"]["details"]["fields"]


def test_review_queue_lists_unreviewed_runs_of_led_teams(team_run, django_user_model, client):
    team, run_id = team_run
    lead = make_lead(team, django_user_model)
    client.force_login(lead)
    assert run_id in client.get("/reviews").content.decode()
    resp = client.post(f"/runs/{run_id}/review", {"verdict": "reject", "comment": "no"})
    assert resp.status_code == 302
    assert Review.objects.get().verdict == "reject"
    assert run_id not in client.get("/reviews").content.decode()
