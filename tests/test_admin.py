"""Admins: every model's change list, search and the run actions."""

import pytest

from runs import lifecycle
from runs.models import Run

from .conftest import make_targz

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged(client, django_user_model):
    django_user_model.objects.create_superuser("admin", "a@example.com", "pw")
    client.login(username="admin", password="pw")
    return client


@pytest.mark.parametrize(
    "model",
    [
        "runs/run",
        "runs/runevent",
        "runs/artifact",
        "runs/team",
        "runs/membership",
        "runs/apitoken",
        "runs/template",
        "evidence/evidencebundle",
        "evidence/review",
    ],
)
def test_changelists_render(admin_client_logged, runs, model):
    runs.create(make_targz({"a": "b"}))
    resp = admin_client_logged.get(f"/admin/{model}/?q=x")
    assert resp.status_code == 200


def test_run_change_page_shows_events_and_cancel_action(admin_client_logged, runs):
    data = make_targz({"a": "b"})
    run = runs.create(data)
    page = admin_client_logged.get(f"/admin/runs/run/{run['id']}/change/")
    assert page.status_code == 200 and b"awaiting_archive" in page.content
    resp = admin_client_logged.post(
        "/admin/runs/run/", {"action": "cancel_runs", "_selected_action": [run["id"]]}
    )
    assert resp.status_code == 302
    assert Run.objects.get(pk=run["id"]).status == "canceled"
    assert lifecycle.ALLOWED_FROM[Run.Status.CANCELED]
