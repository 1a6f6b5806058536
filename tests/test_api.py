"""The REST contract without a sandbox: auth, scoping, validation, archives, errors, lifecycle."""

import hashlib
import io
import tarfile

import pytest

from runs import tasks
from runs.models import Membership, Run, Team

from .helpers import archive_meta, client_for, error_of, make_targz

pytestmark = pytest.mark.django_db

GOOD = make_targz({"README.md": "hello\n", "src/app.py": "print('hi')\n"})


def test_unauthenticated_is_401(client):
    resp = client.get("/api/v1/workspace-runs")
    assert resp.status_code == 401
    assert error_of(resp)["code"] == "not_authenticated"


def test_bad_token_is_401(client):
    resp = client.get("/api/v1/workspace-runs", HTTP_AUTHORIZATION="Bearer nope")
    assert resp.status_code == 401
    assert error_of(resp)["code"] == "not_authenticated"


def test_revoked_token_is_401(user):
    from django.utils import timezone

    from runs.models import ApiToken

    api = client_for(user)
    assert api.get("/api/v1/workspace-runs").status_code == 200
    ApiToken.objects.filter(user=user).update(revoked_at=timezone.now())
    assert api.get("/api/v1/workspace-runs").status_code == 401


def test_tokens_are_stored_hashed(user):
    from runs.models import ApiToken
    from runs.tokens import token_issue

    key = token_issue(user=user)
    stored = ApiToken.objects.get(user=user)
    assert key not in (stored.key_hash, stored.prefix)
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()


def test_issue_token_command(db, capsys):
    from django.core.management import call_command

    call_command("issue_token", "bob", "--create-user")
    key = capsys.readouterr().out.strip()
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/workspace-runs").status_code == 200


def test_create_returns_awaiting_archive(api):
    resp = api.post(
        "/api/v1/workspace-runs",
        {
            "template": "python-node",
            "command": ["echo", "hi"],
            "archive": archive_meta(GOOD),
            "artifactPaths": ["dist/"],
            "env": {"CI": "true"},
            "timeoutSeconds": 30,
        },
        format="json",
    )
    assert resp.status_code == 201
    run = resp.json()
    assert run["id"].startswith("wr_") and len(run["id"]) == 29
    assert run["status"] == "awaiting_archive"
    assert run["command"] == ["echo", "hi"]
    assert run["archive"]["sha256"] == archive_meta(GOOD)["sha256"]
    assert run["env"] == {"CI": "true"} and run["timeoutSeconds"] == 30
    assert run["createdAt"].endswith("Z") and len(run["createdAt"]) == 24
    assert run["lastSeq"] == 1 and run["evidenceAvailable"] is False
    assert set(run["links"]) == {
        "self",
        "archive",
        "transfers",
        "start",
        "cancel",
        "events",
        "stream",
        "websocket",
        "artifacts",
        "evidence",
        "page",
    }


@pytest.mark.parametrize(
    "change, field",
    [
        ({"template": "\ufeff"}, "template"),  # blank as the schema counts it
        ({"command": ""}, "command"),
        ({"command": []}, "command"),
        ({"command": [1, 2]}, "command"),
        ({"command": "echo \x00"}, "command"),
        ({"archive": {"sizeBytes": 10, "sha256": "xyz"}}, "archive.sha256"),
        ({"archive": {"sizeBytes": 0, "sha256": "a" * 64}}, "archive.sizeBytes"),
        ({"artifactPaths": ["/etc/passwd"]}, "artifactPaths"),
        ({"artifactPaths": ["../up"]}, "artifactPaths"),
        ({"env": {"1BAD": "x"}}, "env"),
        ({"env": {"OK": 5}}, "env"),
        ({"timeoutSeconds": 0}, "timeoutSeconds"),
        ({"timeoutSeconds": 10**6}, "timeoutSeconds"),
        ({"team": "not-mine"}, "team"),
    ],
)
def test_create_validation_is_400_with_field(api, change, field):
    body = {"template": "python-node", "command": "true", "archive": archive_meta(GOOD)}
    body.update(change)
    resp = api.post("/api/v1/workspace-runs", body, format="json")
    assert resp.status_code == 400, resp.content
    err = error_of(resp)
    assert err["code"] == "invalid_request"
    names = err["details"]["fields"]
    assert any(n == field or n.startswith((field + ".", field + "[")) for n in names), err


def test_a_template_that_does_not_exist_is_not_found(api):
    """A well-formed name the schema accepts, naming nothing: 404 like any unknown id."""
    body = {"template": "cobol", "command": "true", "archive": archive_meta(GOOD)}
    resp = api.post("/api/v1/workspace-runs", body, format="json")
    assert resp.status_code == 404, resp.content
    err = error_of(resp)
    assert err["code"] == "not_found" and err["details"] == {
        "resource": "template",
        "template": "cobol",
    }
    assert "GET /api/v1/templates" in err["message"]


def test_create_over_archive_limit_is_413(api, settings):
    settings.CROWNEST_ARCHIVE_LIMIT = 1000
    body = {
        "template": "python-node",
        "command": "true",
        "archive": {"sizeBytes": 1001, "sha256": "a" * 64},
    }
    resp = api.post("/api/v1/workspace-runs", body, format="json")
    assert resp.status_code == 413
    assert error_of(resp)["code"] == "archive_too_large"


def test_direct_upload_makes_run_ready(runs):
    run = runs.create(GOOD)
    resp = runs.upload(run["id"], GOOD)
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["status"] == "ready"
    assert body["archive"]["uploadMethod"] == "direct"
    assert body["archive"]["verifiedAt"].endswith("Z")
    stored = Run.objects.get(pk=run["id"])
    assert stored.archive_file_count == 2


def test_multipart_upload(runs, api):
    run = runs.create(GOOD)
    upload = io.BytesIO(GOOD)
    upload.name = "repo.tgz"
    resp = api.put(
        f"/api/v1/workspace-runs/{run['id']}/archive", {"archive": upload}, format="multipart"
    )
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "ready"


def test_digest_mismatch_is_422_and_run_stays_awaiting(runs):
    run = runs.create(GOOD)
    tampered = GOOD[:40] + bytes([GOOD[40] ^ 0xFF]) + GOOD[41:]
    resp = runs.upload(run["id"], tampered)
    assert resp.status_code == 422
    assert error_of(resp)["code"] == "archive_digest_mismatch"
    assert runs.get(run["id"])["status"] == "awaiting_archive"
    # the right bytes still go through afterwards: nothing was half-written
    assert runs.upload(run["id"], GOOD).json()["status"] == "ready"


def test_size_mismatch_is_422(runs):
    run = runs.create(GOOD)
    resp = runs.upload(run["id"], GOOD + b"x")
    assert resp.status_code == 422
    assert error_of(resp)["code"] == "archive_size_mismatch"
    assert runs.get(run["id"])["status"] == "awaiting_archive"


def test_not_gzip_is_415(runs):
    data = b"PK\x03\x04 this is a zip file, not a tarball"
    run = runs.create(data)
    resp = runs.upload(run["id"], data)
    assert resp.status_code == 415
    assert error_of(resp)["code"] == "unsupported_archive"
    assert runs.get(run["id"])["status"] == "awaiting_archive"


def test_wrong_content_type_is_415(runs, api):
    run = runs.create(GOOD)
    resp = api.put(
        f"/api/v1/workspace-runs/{run['id']}/archive", GOOD, content_type="application/zip"
    )
    assert resp.status_code == 415
    assert error_of(resp)["code"] == "unsupported_archive"


def test_direct_upload_over_direct_limit_says_use_staged(runs, settings):
    settings.CROWNEST_DIRECT_UPLOAD_LIMIT = len(GOOD) - 1
    run = runs.create(GOOD)
    resp = runs.upload(run["id"], GOOD)
    assert resp.status_code == 413
    err = error_of(resp)
    assert err["code"] == "archive_too_large"
    assert err["details"]["useStagedTransfer"] is True


def _tar_with(info: tarfile.TarInfo) -> bytes:
    return make_targz({"ok.txt": "fine"}, extra=[info])


def _link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _special(name, kind):
    info = tarfile.TarInfo(name)
    info.type = kind
    return info


@pytest.mark.parametrize(
    "member, rule",
    [
        (_special("/etc/cron.d/x", tarfile.REGTYPE), "absolute_path"),
        (_special("../escape.txt", tarfile.REGTYPE), "parent_traversal"),
        (_link("evil", "/etc/passwd"), "link_escape"),
        (_link("up", "../.."), "link_escape"),
        (_link("hard", "../../etc/shadow", tarfile.LNKTYPE), "link_escape"),
        (_special("dev/null2", tarfile.CHRTYPE), "special_file"),
        (_special("dev/sda", tarfile.BLKTYPE), "special_file"),
        (_special("pipe", tarfile.FIFOTYPE), "special_file"),
    ],
)
def test_unsafe_archive_is_422_with_rule(runs, member, rule):
    data = _tar_with(member)
    run = runs.create(data)
    resp = runs.upload(run["id"], data)
    assert resp.status_code == 422, resp.content
    err = error_of(resp)
    assert err["code"] == "archive_unsafe"
    assert err["details"]["rule"] == rule
    assert err["details"]["member"] == member.name
    assert runs.get(run["id"])["status"] == "awaiting_archive"


def test_too_many_members_is_422(runs, settings):
    settings.CROWNEST_ARCHIVE_MAX_MEMBERS = 3
    data = make_targz({f"f{i}.txt": "x" for i in range(5)})
    run = runs.create(data)
    resp = runs.upload(run["id"], data)
    assert resp.status_code == 422
    assert error_of(resp)["details"]["rule"] == "too_many_members"


def test_expanded_size_limit_is_422(runs, settings):
    settings.CROWNEST_ARCHIVE_MAX_EXPANDED = 1000
    data = make_targz({"big.bin": b"\0" * 5000})
    run = runs.create(data)
    resp = runs.upload(run["id"], data)
    assert resp.status_code == 422
    assert error_of(resp)["details"]["rule"] == "expanded_too_large"


def test_upload_twice_is_409(runs):
    run = runs.create(GOOD)
    assert runs.upload(run["id"], GOOD).status_code == 200
    resp = runs.upload(run["id"], GOOD)
    assert resp.status_code == 409
    err = error_of(resp)
    assert err["code"] == "invalid_state"
    assert err["details"] == {"status": "ready", "allowed": ["awaiting_archive"]}


def test_start_before_archive_is_409_archive_required(runs):
    run = runs.create(GOOD)
    resp = runs.start(run["id"])
    assert resp.status_code == 409
    assert error_of(resp)["code"] == "archive_required"


def test_cancel_before_start_goes_straight_to_canceled_with_evidence(runs, api, monkeypatch):
    finishing = []  # the rest of the ending is a worker's task (it holds the signing key)
    monkeypatch.setattr(tasks.finish_ending, "delay_on_commit", finishing.append)
    run = runs.create(GOOD)
    runs.upload(run["id"], GOOD)
    resp = api.post(f"/api/v1/workspace-runs/{run['id']}/cancel")
    assert resp.status_code == 202
    assert resp.json()["status"] == "canceled"
    events = runs.events(run["id"])
    assert events[-1]["type"] == "terminal"
    assert events[-1]["data"]["status"] == "canceled"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert finishing == [run["id"]]
    early = api.get(f"/api/v1/workspace-runs/{run['id']}/evidence")
    assert early.status_code == 409 and error_of(early)["code"] == "evidence_not_ready"
    tasks.finish_ending(run["id"])  # as the worker runs it
    bundle = api.get(f"/api/v1/workspace-runs/{run['id']}/evidence").json()
    assert bundle["status"] == "canceled"
    assert bundle["terminalEvent"] == events[-1]
    again = api.post(f"/api/v1/workspace-runs/{run['id']}/cancel")
    assert again.status_code == 409
    assert error_of(again)["code"] == "invalid_state"
    start = runs.start(run["id"])
    assert start.status_code == 409
    assert error_of(start)["details"]["status"] == "canceled"


def test_evidence_before_end_is_409(runs, api):
    run = runs.create(GOOD)
    resp = api.get(f"/api/v1/workspace-runs/{run['id']}/evidence")
    assert resp.status_code == 409
    assert error_of(resp)["code"] == "evidence_not_ready"


def test_foreign_runs_answer_404(runs, other_api, api):
    run = runs.create(GOOD)
    rid = run["id"]
    for method, url in [
        ("get", f"/api/v1/workspace-runs/{rid}"),
        ("put", f"/api/v1/workspace-runs/{rid}/archive"),
        ("post", f"/api/v1/workspace-runs/{rid}/start"),
        ("post", f"/api/v1/workspace-runs/{rid}/cancel"),
        ("get", f"/api/v1/workspace-runs/{rid}/events"),
        ("get", f"/api/v1/workspace-runs/{rid}/artifacts"),
        ("get", f"/api/v1/workspace-runs/{rid}/evidence"),
    ]:
        resp = getattr(other_api, method)(url)
        assert resp.status_code == 404, (url, resp.status_code)
        assert error_of(resp)["code"] == "not_found"
    assert other_api.get("/api/v1/workspace-runs").json()["count"] == 0
    assert api.get("/api/v1/workspace-runs").json()["count"] == 1
    assert Run.objects.get(pk=rid).status == "awaiting_archive"


def test_team_members_see_team_runs(user, other_user, runs, other_api):
    team = Team.objects.create(slug="platform", name="Platform")
    Membership.objects.create(team=team, user=user)
    run = runs.create(GOOD, team="platform")
    assert other_api.get(f"/api/v1/workspace-runs/{run['id']}").status_code == 404
    Membership.objects.create(team=team, user=other_user)
    resp = other_api.get(f"/api/v1/workspace-runs/{run['id']}")
    assert resp.status_code == 200 and resp.json()["team"] == "platform"
    assert other_api.get("/api/v1/workspace-runs", {"team": "platform"}).json()["count"] == 1


def test_staff_see_everything(runs, django_user_model):
    run = runs.create(GOOD)
    admin = django_user_model.objects.create_user("root", is_staff=True)
    assert client_for(admin).get(f"/api/v1/workspace-runs/{run['id']}").status_code == 200


def test_list_filters_and_pagination(runs, api):
    ids = [runs.create(GOOD, command=f"echo {i}")["id"] for i in range(5)]
    runs.upload(ids[0], GOOD)
    page = api.get("/api/v1/workspace-runs", {"pageSize": 2}).json()
    assert page["count"] == 5 and len(page["results"]) == 2
    assert [r["id"] for r in page["results"]] == ids[::-1][:2]  # newest first
    page3 = api.get("/api/v1/workspace-runs", {"pageSize": 2, "page": 3}).json()
    assert [r["id"] for r in page3["results"]] == [ids[0]]
    ready = api.get("/api/v1/workspace-runs", {"status": "ready"}).json()
    assert [r["id"] for r in ready["results"]] == [ids[0]]
    assert api.get("/api/v1/workspace-runs", {"owner": "alice"}).json()["count"] == 5
    assert api.get("/api/v1/workspace-runs", {"template": "other"}).json()["count"] == 0


def test_list_events_window(runs, api):
    run = runs.create(GOOD)
    runs.upload(run["id"], GOOD)
    first = api.get(f"/api/v1/workspace-runs/{run['id']}/events", {"limit": 2}).json()
    assert [e["seq"] for e in first["events"]] == [1, 2]
    assert first["hasMore"] is True and first["terminal"] is False
    rest = api.get(
        f"/api/v1/workspace-runs/{run['id']}/events", {"afterSeq": first["nextAfterSeq"]}
    ).json()
    assert rest["events"][0]["seq"] == 3 and rest["hasMore"] is False
    kinds = {e["type"] for e in first["events"] + rest["events"]}
    assert {"status", "archive_progress"} <= kinds
    phases = {
        e["data"]["phase"]
        for e in rest["events"] + first["events"]
        if e["type"] == "archive_progress"
    }
    assert phases == {"upload", "verify"}


def test_throttled_when_too_many_active_runs(runs, api, settings):
    settings.CROWNEST_MAX_ACTIVE_RUNS = 1
    first, second = runs.create(GOOD), runs.create(GOOD)
    for run in (first, second):
        assert runs.upload(run["id"], GOOD).status_code == 200
    assert runs.start(first["id"]).status_code == 202  # queued: one active run, the limit
    resp = runs.start(second["id"])
    assert resp.status_code == 429
    err = error_of(resp)
    assert err["code"] == "throttled"
    assert err["details"] == {"retryAfterSeconds": 5, "activeRuns": 1, "limit": 1}
    assert resp.headers["Retry-After"] == "5"
    assert runs.get(second["id"])["status"] == "ready"
    # Once the first run ends, the second may go.
    assert runs.cancel(first["id"]).status_code == 202
    assert runs.start(second["id"]).status_code == 202


def test_rate_limit_is_429_with_retry_after(api):
    from rest_framework.settings import api_settings
    from rest_framework.throttling import UserRateThrottle

    UserRateThrottle.THROTTLE_RATES = {"user": "3/min"}
    try:
        codes = [api.get("/api/v1/templates").status_code for _ in range(5)]
        resp = api.get("/api/v1/templates")
    finally:
        UserRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    assert codes == [200, 200, 200, 429, 429]
    assert resp.status_code == 429
    assert error_of(resp)["code"] == "throttled"
    assert int(resp.headers["Retry-After"]) > 0


def test_templates_listed(api):
    body = api.get("/api/v1/templates").json()
    assert body[0]["name"] == "python-node"
    assert body[0]["image"].startswith("crownest/python-node:")
    # The original fields stay; templates as data added more (docs/templates.md).
    assert {"name", "description", "image", "imageDigest", "python", "node"} <= set(body[0])
    assert body[0]["status"] == "ready" and "python3" in body[0]["debianPackages"]


def test_unknown_artifact_404(api):
    resp = api.get("/api/v1/artifacts/af_nope")
    assert resp.status_code == 404 and error_of(resp)["code"] == "not_found"


def test_schema_and_docs_served(api):
    schema = api.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/workspace-runs" in schema.content
    docs = api.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()


def test_healthz_is_503_when_no_worker_reaches_docker(client, monkeypatch):
    from celery import current_app

    # What the workers answer to the docker_ping broadcast -> the docker check's verdict.
    cases = [
        ([], "error: no worker answers"),
        ([{"w1@host": {"error": "engine down"}}], "error: no worker reaches its Docker engine"),
    ]
    for replies, verdict in cases:

        def broadcast(*args, answers=replies, **kwargs):
            return answers

        monkeypatch.setattr(current_app.control, "broadcast", broadcast)
        resp = client.get("/healthz")
        assert resp.status_code == 503
        body = resp.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["database"] == body["checks"]["redis"] == "ok"
        assert body["checks"]["docker"].startswith(verdict), body
    assert body["checks"]["docker"].endswith("(engine down)")


def test_list_costs_the_same_queries_for_many_runs(runs, api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def list_queries(expected):
        with CaptureQueriesContext(connection) as ctx:
            assert api.get("/api/v1/workspace-runs").json()["count"] == expected
        return len(ctx.captured_queries)

    for _ in range(3):
        runs.create(GOOD)
    few = list_queries(3)
    for _ in range(10):
        runs.create(GOOD)
    assert list_queries(13) == few  # no query per run (artifacts, evidence)


def test_openapi_schema_describes_the_run_object_as_served(runs, api):
    schema = api.get("/api/v1/schema/", {"format": "json"}).json()
    props = schema["components"]["schemas"]["Run"]["properties"]
    run = runs.create(GOOD)
    assert set(props) == set(run)
    assert set(schema["components"]["schemas"]["RunArchive"]["properties"]) == set(run["archive"])
    assert set(schema["components"]["schemas"]["RunLinks"]["properties"]) == set(run["links"])
    assert set(schema["components"]["schemas"]["RunSandbox"]["properties"]) == set(run["sandbox"])
