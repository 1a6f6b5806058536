"""The web process never loads the Docker SDK (the socket is root on the host: only workers talk
to it). A fresh process starts the ASGI application and serves the API, the pages, the schema
and the admin through Django's test client; then neither `docker` nor any sandbox or worker
start-up module may be loaded. The Celery tasks the web sends are importable without them."""

import json
import os
import subprocess
import sys

import pytest

from runs.tokens import token_issue

from .helpers import ROOT, Runs, client_for, database_url, make_targz

pytestmark = pytest.mark.django_db(transaction=True)

SERVE = r"""
import json, sys
from crownest_web.asgi import application  # noqa: F401 (starts the web app as daphne does)
from django.contrib.auth import get_user_model
from django.test import Client

token, run_id = sys.argv[1], sys.argv[2]
api = Client(SERVER_NAME="localhost", HTTP_AUTHORIZATION=f"Bearer {token}")
page = Client(SERVER_NAME="localhost")
page.force_login(get_user_model().objects.get(username="root"))
answers = {}
for client, url in [
    (api, "/api/v1/templates"),
    (api, "/api/v1/templates/python-node"),
    (api, "/api/v1/workspace-runs"),
    (api, f"/api/v1/workspace-runs/{run_id}"),
    (api, f"/api/v1/workspace-runs/{run_id}/evidence"),
    (api, "/api/v1/schema/"),
    (page, "/"),
    (page, f"/runs/{run_id}"),
    (page, "/templates/python-node"),
    (page, "/admin/runs/template/"),
    (page, "/admin/runs/run/"),
]:
    answers[url] = client.get(url).status_code
loaded = sorted(
    m for m in sys.modules
    if m == "docker" or m.startswith(("docker.", "runs.worker", "runs.sandbox_templates.build"))
)
print(json.dumps({"answers": answers, "loaded": loaded}))
"""


def test_the_web_app_serves_without_loading_docker_or_the_worker(django_user_model):
    staff = django_user_model.objects.create_user("root", is_staff=True, is_superuser=True)
    runs = Runs(client_for(staff))
    data = make_targz({"a.txt": "a"})
    run = runs.create(data)
    env = {**os.environ, "DATABASE_URL": database_url()}
    out = subprocess.run(
        [sys.executable, "-c", SERVE, token_issue(user=staff), run["id"]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    answers = seen["answers"]
    assert answers.pop(f"/api/v1/workspace-runs/{run['id']}/evidence") == 409  # not ended
    assert set(answers.values()) == {200}, answers
    assert seen["loaded"] == [], "the web process loaded " + ", ".join(seen["loaded"])
