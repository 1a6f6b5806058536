"""Admins: every model's change list and search, the run and token actions, and history that the
admin shows but never lets anyone rewrite."""

from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.messages import get_messages
from django.test import TestCase

from evidence.models import EvidenceBundle, Review
from runs import admin as runs_admin
from runs import lifecycle, tasks
from runs.blobs import storage
from runs.models import (
    ApiToken,
    Artifact,
    Membership,
    Run,
    RunEvent,
    Team,
    Template,
    Transfer,
)

from .helpers import Runs, Staged, archive_meta, client_for, make_targz

pytestmark = pytest.mark.django_db

DATA = make_targz({"a": "b"})


@pytest.fixture
def admin(client, django_user_model):
    django_user_model.objects.create_superuser("admin", "a@example.com", "pw")
    client.login(username="admin", password="pw")
    return client


@pytest.fixture
def world(user, other_user, django_user_model):
    """One of everything, made the way users make them: alice's ended team run with its bundle,
    an artifact and a lead's review; mallory's run with an open staged transfer."""
    team = Team.objects.create(slug="qa", name="Quality")
    Membership.objects.create(team=team, user=user)
    lead = django_user_model.objects.create_user("lead")
    Membership.objects.create(team=team, user=lead, role="lead")
    alice = Runs(client_for(user))
    ended = alice.create(DATA, team="qa")
    assert alice.upload(ended["id"], DATA).status_code == 200
    assert alice.cancel(ended["id"]).status_code == 202
    tasks.finish_ending(ended["id"])  # the bundle, as the worker writes it
    artifact = Artifact.objects.create(
        run_id=ended["id"], path="dist/report.txt", size_bytes=3, sha256="c" * 64,
        content_type="text/plain", file="artifacts/x",
    )  # fmt: skip
    review = client_for(lead).post(
        f"/api/v1/workspace-runs/{ended['id']}/reviews",
        {"verdict": "approve", "comment": "looks fine"},
        format="json",
    )
    assert review.status_code == 201, review.content
    staged = Staged(client_for(other_user))
    other = staged.run(DATA)
    transfer = staged.create(other["id"])
    # python-node's row is seeded (a migration); a worker records its image's facts.
    Template.objects.filter(name="python-node").update(
        image="crownest/python-node:t", python="3.11"
    )
    return SimpleNamespace(
        ended=ended["id"],
        other=other["id"],
        team=team,
        lead=lead,
        artifact=artifact.id,
        transfer=transfer["id"],
        bundle=EvidenceBundle.objects.get(run_id=ended["id"]),
        review=Review.objects.get(),
        other_token=ApiToken.objects.get(user=other_user),
    )


def listed(admin, model, q=None) -> list[str]:
    resp = admin.get(f"/admin/{model}/", {} if q is None else {"q": q})
    assert resp.status_code == 200
    return sorted(str(obj.pk) for obj in resp.context["cl"].result_list)


def pks(queryset) -> list[str]:
    return sorted(str(pk) for pk in queryset.values_list("pk", flat=True))


# model -> (a search, what it finds), from the world above; every search is also made to miss.
SEARCHES = {
    "runs/run": lambda w: ("mallory", [w.other]),
    "runs/runevent": lambda w: (w.other, pks(RunEvent.objects.filter(run_id=w.other))),
    "runs/artifact": lambda w: ("report", [w.artifact]),
    "runs/team": lambda w: ("Quality", [str(w.team.pk)]),
    "runs/membership": lambda w: ("lead", pks(Membership.objects.filter(user=w.lead))),
    "runs/apitoken": lambda w: (w.other_token.prefix, [str(w.other_token.pk)]),
    "runs/transfer": lambda w: ("mallory", [w.transfer]),
    "evidence/evidencebundle": lambda w: (w.ended, [str(w.bundle.pk)]),
    "evidence/review": lambda w: ("fine", [str(w.review.pk)]),
}


@pytest.mark.parametrize("model", SEARCHES)
def test_changelist_lists_everything_and_search_finds_the_one(admin, world, model):
    query, found = SEARCHES[model](world)
    assert found
    assert listed(admin, model) == pks(apps.get_model(*model.split("/")).objects.all())
    assert listed(admin, model, query) == found
    assert listed(admin, model, "no-such-thing") == []


def test_template_changelist_shows_the_registered_image(admin, world):
    resp = admin.get("/admin/runs/template/")
    assert [t.name for t in resp.context["cl"].result_list] == ["python-node"]
    assert b"crownest/python-node:t" in resp.content


def test_run_changelist_links_to_the_run_page(admin, world):
    resp = admin.get("/admin/runs/run/", {"q": world.ended})
    assert f'<a href="/runs/{world.ended}">open</a>'.encode() in resp.content


def test_run_change_page_lists_the_runs_events_in_order(admin, runs):
    run = runs.create(DATA)
    assert runs.upload(run["id"], DATA).status_code == 200
    page = admin.get(f"/admin/runs/run/{run['id']}/change/")
    assert page.status_code == 200
    [inline] = page.context["inline_admin_formsets"]
    shown = [(form.instance.seq, form.instance.type) for form in inline.formset.forms]
    stored = list(RunEvent.objects.filter(run_id=run["id"]).values_list("seq", "type"))
    assert shown == sorted(stored) and len(shown) == runs.get(run["id"])["lastSeq"]
    assert {"status", "archive_progress"} <= {kind for _, kind in shown}


def test_cancel_action_ends_runs_and_warns_about_ended_ones(admin, runs):
    ready, ended = runs.create(DATA), runs.create(DATA)
    assert runs.upload(ready["id"], DATA).status_code == 200
    assert runs.cancel(ended["id"]).status_code == 202
    resp = admin.post(
        "/admin/runs/run/",
        {"action": "cancel_runs", "_selected_action": [ready["id"], ended["id"]]},
        follow=True,
    )
    assert resp.status_code == 200
    assert runs.get(ready["id"])["status"] == "canceled"
    assert runs.events(ready["id"])[-1]["type"] == "terminal"
    [warning] = [m for m in get_messages(resp.wsgi_request)]
    assert warning.level_tag == "warning"
    # The service's own refusal, named by run.
    refusal = lifecycle.invalid(Run.Status.CANCELED, Run.Status.CANCELED).message
    assert str(warning) == f"{ended['id']}: {refusal}"


def test_reaper_action_queues_the_reaper(admin, runs, monkeypatch):
    queued = []
    monkeypatch.setattr(runs_admin.reap, "delay", lambda: queued.append(True))
    run = runs.create(DATA)
    resp = admin.post(
        "/admin/runs/run/", {"action": "run_reaper", "_selected_action": [run["id"]]}, follow=True
    )
    assert queued == [True]
    assert [str(m) for m in get_messages(resp.wsgi_request)] == ["The reaper was queued."]


def test_revoke_action_locks_the_token_out(admin, user):
    api = client_for(user)
    assert api.get("/api/v1/workspace-runs").status_code == 200
    token = ApiToken.objects.get(user=user)
    admin.post("/admin/runs/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert api.get("/api/v1/workspace-runs").status_code == 401
    revoked_at = ApiToken.objects.get(pk=token.pk).revoked_at
    assert revoked_at is not None
    admin.post("/admin/runs/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert ApiToken.objects.get(pk=token.pk).revoked_at == revoked_at  # the first time stays


def test_history_is_shown_but_cannot_be_added_or_changed(admin, world):
    review = world.review
    assert admin.get(f"/admin/evidence/review/{review.pk}/change/").status_code == 200
    resp = admin.post(
        f"/admin/evidence/review/{review.pk}/change/", {"verdict": "reject", "comment": "no"}
    )
    assert resp.status_code == 403
    assert (Review.objects.get().verdict, Review.objects.get().comment) == ("approve", "looks fine")
    event = RunEvent.objects.filter(run_id=world.ended).first()
    changes = {
        f"/admin/evidence/evidencebundle/{world.bundle.pk}/change/": {"sha256": "0" * 64},
        f"/admin/runs/runevent/{event.pk}/change/": {"type": "stdout"},
        f"/admin/runs/transfer/{world.transfer}/change/": {"status": "completed"},
    }
    for url, data in changes.items():
        assert admin.post(url, data).status_code == 403, url
    assert EvidenceBundle.objects.get(pk=world.bundle.pk).sha256 == world.bundle.sha256
    assert RunEvent.objects.get(pk=event.pk).type == event.type
    assert Transfer.objects.get(pk=world.transfer).status == "open"
    for model in ("runs/run", "runs/runevent", "runs/transfer", "evidence/review"):
        assert admin.get(f"/admin/{model}/add/").status_code == 403, model


def test_admin_is_closed_to_users_who_are_not_staff(client, user):
    client.force_login(user)
    resp = client.get("/admin/runs/run/")
    assert resp.status_code == 302 and resp.url.startswith("/admin/login/")


def test_deleting_runs_in_the_admin_keeps_a_shared_archive(admin, runs, api, settings):
    data = make_targz({"shared.txt": "s"})
    first = runs.create(data)
    assert runs.upload(first["id"], data).status_code == 200
    body = {"template": "python-node", "command": "true", "archive": archive_meta(data)}
    second = api.post("/api/v1/workspace-runs", body, format="json").json()
    name = Run.objects.get(pk=first["id"]).archive_file
    assert second["status"] == "ready" and Run.objects.get(pk=second["id"]).archive_file == name
    delete = {"action": "delete_selected", "_selected_action": [first["id"]], "post": "yes"}
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert admin.post("/admin/runs/run/", delete).status_code == 302
    assert not Run.objects.filter(pk=first["id"]).exists() and storage().exists(name)
    admin.post("/admin/runs/run/", {"action": "pin_runs", "_selected_action": [second["id"]]})
    assert Run.objects.get(pk=second["id"]).pinned
    delete["_selected_action"] = [second["id"]]
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert admin.post("/admin/runs/run/", delete).status_code == 302
    assert not storage().exists(name)  # the last run using it is gone
