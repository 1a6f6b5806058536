"""Small contract points at the edges: `Cache-Control` on every per-user answer, artifact downloads
whatever the Accept header, 413 for a declared archive over the limit at creation, and package
names that apt, pip or npm would read as more than a package."""

import pytest
from django.conf import settings as django_settings
from django.test import Client

from runs.ending import after_end
from runs.sandbox_templates.recipe import bad_package

from .helpers import Runs, archive_meta, client_for, error_of, make_targz, stored_artifact

pytestmark = pytest.mark.django_db

DATA = make_targz({"a.txt": "a"})
PRIVATE = "private, no-store"


@pytest.fixture
def ended(runs) -> str:
    """An ended run with its Evidence Bundle and one stored artifact."""
    run = runs.create(DATA)
    assert runs.cancel(run["id"]).status_code == 202
    after_end(run["id"])
    stored_artifact(run["id"], "dist/report.txt", b"report\n")
    return run["id"]


def test_every_per_user_api_answer_is_private(api, ended):
    artifact = api.get(f"/api/v1/workspace-runs/{ended}/artifacts").json()[0]
    paths = [
        "/api/v1/workspace-runs",
        f"/api/v1/workspace-runs/{ended}",
        f"/api/v1/workspace-runs/{ended}/events",
        f"/api/v1/workspace-runs/{ended}/artifacts",
        f"/api/v1/artifacts/{artifact['id']}",
        f"/api/v1/artifacts/{artifact['id']}/download",
        f"/api/v1/workspace-runs/{ended}/evidence",
        f"/api/v1/workspace-runs/{ended}/evidence?download=true",
        f"/api/v1/workspace-runs/{ended}/evidence/attestation",
        f"/api/v1/workspace-runs/{ended}/evidence/sigstore-bundle",
        f"/api/v1/workspace-runs/{ended}/events.ndjson",
        f"/api/v1/workspace-runs/{ended}/reviews",
        "/api/v1/templates",
        "/api/v1/workspace-runs/wr_nope",  # an error says whether an id exists: private too
    ]
    for path in paths:
        resp = api.get(path)
        assert resp.status_code in (200, 404), (path, resp.status_code)
        assert resp["Cache-Control"] == PRIVATE, path
    etag = api.get(artifact["downloadUrl"])["ETag"]
    unchanged = api.get(artifact["downloadUrl"], HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304 and unchanged["Cache-Control"] == PRIVATE
    assert Client().get("/api/v1/workspace-runs")["Cache-Control"] == PRIVATE  # 401


def test_pages_are_private_and_the_stream_is_no_cache(client, user, api, ended):
    client.force_login(user)
    for path in ("/", f"/runs/{ended}", f"/runs/{ended}/panels", f"/runs/{ended}/log.txt"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert resp["Cache-Control"] == PRIVATE, path
    assert "no-store" in client.get("/accounts/login/")["Cache-Control"]
    stream = api.get(f"/api/v1/workspace-runs/{ended}/events/stream")
    assert stream["Cache-Control"] == "no-cache"  # SSE: the one view that says otherwise
    stream.close()


@pytest.mark.parametrize(
    "accept",
    ["application/octet-stream", "text/plain", "text/html,application/xhtml+xml,*/*;q=0.8",
     "image/png", "application/json", ""],
)  # fmt: skip
def test_an_artifact_downloads_whatever_the_accept_header(api, ended, accept):
    artifact = api.get(f"/api/v1/workspace-runs/{ended}/artifacts").json()[0]
    resp = api.get(artifact["downloadUrl"], HTTP_ACCEPT=accept)
    assert resp.status_code == 200, resp.content
    assert b"".join(resp.streaming_content) == b"report\n"
    assert resp["Content-Disposition"].startswith("attachment")
    missing = api.get("/api/v1/artifacts/af_nope/download", HTTP_ACCEPT=accept)
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"


@pytest.mark.parametrize("over", [1, 10**12, 2**63])
def test_a_declared_size_over_the_limit_is_413_at_creation(api, over):
    """With the limit as configured (no override): the body's own rules must not turn it into
    a 400 first."""
    meta = {**archive_meta(DATA), "sizeBytes": django_settings.CROWNEST_ARCHIVE_LIMIT + over}
    body = {"template": "python-node", "command": "true", "archive": meta}
    resp = api.post("/api/v1/workspace-runs", body, format="json")
    assert resp.status_code == 413, resp.content
    err = error_of(resp)
    assert err["code"] == "archive_too_large"
    assert err["details"]["limitBytes"] == django_settings.CROWNEST_ARCHIVE_LIMIT
    assert Runs(api).create(DATA)["status"] == "awaiting_archive"  # at the limit and under: 201


@pytest.mark.parametrize(
    "kind,name",
    [
        ("debianPackages", "jq-"),  # apt-get: remove jq
        ("debianPackages", "jq+"),
        ("debianPackages", "libc6-"),
        ("debianPackages", "g++"),  # named with its =version instead
        ("debianPackages", "curl=7.88.1-"),
        ("debianPackages", "curl=7.88.1+"),
        ("pipPackages", "evil.whl"),  # pip: a file in its working directory
        ("pipPackages", "six==1.0.zip"),
        ("pipPackages", "pkg.tar.gz"),
        ("pipPackages", "PKG.TGZ"),
        ("npmPackages", "evil.tgz"),  # npm: a tarball file
        ("npmPackages", "x@1.tgz"),
        ("npmPackages", "x.tar"),
        ("npmPackages", "x@.."),  # npm: a folder
        ("npmPackages", "x@./y"),
    ],
)
def test_package_names_that_mean_more_are_refused(kind, name, django_user_model):
    assert bad_package(kind, name) is not None
    staff = client_for(django_user_model.objects.create_user("root", is_staff=True))
    resp = staff.post("/api/v1/templates", {"name": "extras", kind: [name]}, format="json")
    assert resp.status_code == 400, resp.content
    assert kind in error_of(resp)["details"]["fields"]


@pytest.mark.parametrize(
    "kind,name",
    [
        ("debianPackages", "jq"),
        ("debianPackages", "g++-12"),
        ("debianPackages", "g++=4:12.2.0-3"),
        ("debianPackages", "libstdc++6"),
        ("debianPackages", "curl=7.88.1-10+deb12u5"),
        ("pipPackages", "zope.interface"),
        ("pipPackages", "idna>=3,<4"),
        ("npmPackages", "lodash.merge"),
        ("npmPackages", "@types/node@^20.1.0"),
        ("npmPackages", "left-pad@~1.3"),
    ],
)
def test_plain_package_names_still_pass(kind, name):
    assert bad_package(kind, name) is None
