"""/metrics without Docker: who may read it (a token or an allowed address; nobody by default),
what it answers (the database's gauges, counters counted where things happen), and that labels
never carry a run id or a user name. The real scrape by Prometheus is tests/test_prometheus.py."""

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from runs.models import Run, WorkerHost

from .helpers import archive_meta, make_targz

pytestmark = pytest.mark.django_db

DATA = make_targz({"a.txt": "a"})


def scrape(client: Client, **headers) -> dict:
    resp = client.get("/metrics", **headers)
    assert resp.status_code == 200, resp.status_code
    assert resp["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(resp.content.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_nobody_reads_metrics_by_default(api, client, admin_client):
    for caller in (client, admin_client):
        assert caller.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404
    assert api.get("/metrics").status_code == 404  # an API token of a user is not the metrics token


@override_settings(CROWNEST_METRICS_TOKEN="s3cret")
def test_the_metrics_token_opens_it_and_nothing_else_does(client):
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cre").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic s3cret").status_code == 404
    assert client.post("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 404


@override_settings(CROWNEST_METRICS_ALLOW=["10.1.0.0/16", "::1"])
def test_allowed_addresses_open_it():
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="10.2.0.1").get("/metrics").status_code == 404
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 404


@override_settings(CROWNEST_METRICS_TOKEN="s3cret")
def test_database_gauges_and_counters(api, user, client):
    auth = {"HTTP_AUTHORIZATION": "Bearer s3cret"}
    before = scrape(client, **auth)
    body = {"template": "python-node", "command": "true", "archive": archive_meta(DATA)}
    run = api.post("/api/v1/workspace-runs", {**body, "reuseArchive": False}, format="json").json()
    url = f"/api/v1/workspace-runs/{run['id']}"
    assert api.put(f"{url}/archive", DATA, content_type="application/gzip").status_code == 200
    assert api.post(f"{url}/start").status_code == 202
    bad = {**body, "archive": {**archive_meta(DATA), "sha256": "0" * 64}, "reuseArchive": False}
    other = api.post("/api/v1/workspace-runs", bad, format="json").json()
    put = api.put(
        f"/api/v1/workspace-runs/{other['id']}/archive", DATA, content_type="application/gzip"
    )
    assert put.status_code == 422
    now = timezone.now()
    WorkerHost.objects.create(name="w1", slots=4, started_at=now, last_seen_at=now)
    Run.objects.filter(pk=other["id"]).update(status="running", worker_host="w1")
    after = scrape(client, **auth)

    # Counted where it happened (in this process: on commit, which the test transaction fakes
    # only for what the view commits itself; creation is counted after the request commits).
    assert value(after, "crownest_runs_queued", template="python-node") == 1
    assert value(after, "crownest_runs_running", worker_host="w1") == 1
    assert value(after, "crownest_worker_host_up", worker_host="w1") == 1
    assert value(after, "crownest_worker_host_slots", worker_host="w1") == 4
    assert value(after, "crownest_worker_host_slots_in_use", worker_host="w1") == 1
    assert 0 <= value(after, "crownest_worker_host_heartbeat_age_seconds", worker_host="w1") < 60
    assert value(after, "crownest_database_up") == 1
    grew = value(after, "crownest_archive_received_bytes_total", method="direct") - value(
        before, "crownest_archive_received_bytes_total", method="direct"
    )
    assert grew == len(DATA)
    code = "archive_digest_mismatch"
    failures = "crownest_archive_verification_failures_total"
    assert value(after, failures, code=code) - value(before, failures, code=code) == 1
    route = {"route": "run-start", "method": "POST", "status": "202"}
    assert value(after, "crownest_http_requests_total", **route) >= 1
    assert value(after, "crownest_disk_size_bytes", volume="media") > 0

    # No label anywhere carries a run id or a user name.
    for _name, labels in after:
        for _key, label_value in labels:
            assert not label_value.startswith("wr_") and label_value != user.username


@override_settings(CROWNEST_METRICS_TOKEN="s3cret")
def test_every_answer_carries_a_request_id(client):
    given = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123.x")
    assert given["X-Request-ID"] == "abc-123.x"
    made = client.get("/healthz", HTTP_X_REQUEST_ID="no spaces; or <tags>")
    assert made["X-Request-ID"] != "no spaces; or <tags>" and len(made["X-Request-ID"]) == 32
    assert client.get("/metrics")["X-Request-ID"]  # a 404 too
    assert client.get("/healthz")["X-Request-ID"] != client.get("/healthz")["X-Request-ID"]
