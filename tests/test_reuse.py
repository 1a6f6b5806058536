"""Archive reuse by sha256 (no sandbox): a stored archive of the caller or of their teams is
shared by a new run, never another user's (and the answer never says whether one exists);
a shared stored archive is deleted only with the last run that uses it."""

import re

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runs import services
from runs.blobs import storage
from runs.models import Artifact, Membership, Run, Team

from .helpers import archive_meta, client_for, error_of, make_targz

pytestmark = pytest.mark.django_db

DATA = make_targz({"run.sh": "echo reuse\n", "src/a.py": "print(1)\n"})
UNKNOWN = make_targz({"never": "uploaded"})


def create(api, data, **fields):
    body = {"template": "python-node", "command": "true", "archive": archive_meta(data)}
    body.update(fields)
    resp = api.post("/api/v1/workspace-runs", body, format="json")
    assert resp.status_code == 201, resp.content
    return resp.json()


def uploaded(api, data, **fields):
    run = create(api, data, reuseArchive=False, **fields)
    resp = api.put(
        f"/api/v1/workspace-runs/{run['id']}/archive", data, content_type="application/gzip"
    )
    assert resp.status_code == 200, resp.content
    return resp.json()


def stored_files(settings) -> list[str]:
    return sorted(str(p) for p in settings.MEDIA_ROOT.rglob("*.tar.gz") if p.is_file())


def lookup(api, data) -> dict:
    meta = archive_meta(data)
    resp = api.get(f"/api/v1/archives/{meta['sha256']}", {"sizeBytes": meta["sizeBytes"]})
    assert resp.status_code == 200, resp.content
    return resp.json()


def test_own_archive_is_reused_ready_at_once_and_shared(api, settings):
    first = uploaded(api, DATA)
    before = stored_files(settings)
    assert lookup(api, DATA)["known"] is True and lookup(api, UNKNOWN)["known"] is False
    second = create(api, DATA)
    assert second["status"] == "ready"
    assert second["archive"]["uploadMethod"] == "reused" and second["archive"]["verifiedAt"]
    assert first["archive"]["uploadMethod"] == "direct"
    a, b = Run.objects.get(pk=first["id"]), Run.objects.get(pk=second["id"])
    assert b.archive_file == a.archive_file and stored_files(settings) == before
    assert (b.archive_file_count, b.archive_expanded_bytes) == (
        a.archive_file_count,
        a.archive_expanded_bytes,
    )
    events = api.get(f"/api/v1/workspace-runs/{second['id']}/events").json()["events"]
    assert [e["data"]["status"] for e in events] == ["awaiting_archive", "ready"]
    # Uploading to it now is refused: it already has its archive.
    resp = api.put(
        f"/api/v1/workspace-runs/{second['id']}/archive", DATA, content_type="application/gzip"
    )
    assert resp.status_code == 409 and error_of(resp)["code"] == "invalid_state"


def test_reuse_can_be_turned_off_and_needs_the_same_size(api):
    uploaded(api, DATA)
    off = create(api, DATA, reuseArchive=False)
    assert off["status"] == "awaiting_archive" and off["archive"]["uploadMethod"] is None
    meta = {**archive_meta(DATA), "sizeBytes": len(DATA) + 1}
    body = {"template": "python-node", "command": "true", "archive": meta}
    other_size = api.post("/api/v1/workspace-runs", body, format="json").json()
    assert other_size["status"] == "awaiting_archive"
    resp = api.post("/api/v1/workspace-runs", {**body, "reuseArchive": "yes"}, format="json")
    assert resp.status_code == 400 and "reuseArchive" in error_of(resp)["details"]["fields"]


def shape(run: dict) -> dict:
    """What a response says, without the values that differ between any two runs."""
    return {
        "keys": sorted(run),
        "archiveKeys": sorted(run["archive"]),
        "status": run["status"],
        "uploadMethod": run["archive"]["uploadMethod"],
        "verifiedAt": run["archive"]["verifiedAt"],
        "lastSeq": run["lastSeq"],
    }


def created_with_queries(api, data) -> tuple[dict, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        run = create(api, data)
    # The statements without their literal values (ids, digests, timestamps differ).
    literal = re.compile(r"'[^']*'|\"s[0-9]+_x[0-9]+\"|\b\d+\b")
    # A token's last use is written at most once a minute, by whichever request comes first.
    touched = 'UPDATE "runs_apitoken" SET "last_used_at"'
    sql = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(touched)]
    return run, [literal.sub("?", q) for q in sql]


def test_another_users_archive_is_never_reused_nor_revealed(api, other_api, user, settings):
    uploaded(api, DATA)
    Team.objects.create(slug="elsewhere", name="Elsewhere")  # a team alice is not in
    theirs, their_queries = created_with_queries(other_api, DATA)
    unknown, unknown_queries = created_with_queries(other_api, UNKNOWN)
    assert theirs["status"] == "awaiting_archive"
    assert shape(theirs) == shape(unknown)
    # The same work on the same path: the same queries, no storage lookup for either.
    assert their_queries == unknown_queries
    assert lookup(other_api, DATA) == {**lookup(other_api, DATA), "known": False}
    assert Run.objects.get(pk=theirs["id"]).archive_file == ""
    # Staff get no wider scope: someone else's archive is not theirs to reuse.
    user.__class__.objects.create_user("root", is_staff=True)
    staff = client_for(user.__class__.objects.get(username="root"))
    assert create(staff, DATA)["status"] == "awaiting_archive"


def test_team_archives_are_reused_by_members_only(api, other_api, user, other_user):
    team = Team.objects.create(slug="platform", name="Platform")
    Membership.objects.create(team=team, user=user)
    personal = make_targz({"personal": "alice"})
    later = make_targz({"team": "archive mallory never used"})
    uploaded(api, DATA, team="platform")
    uploaded(api, later, team="platform")
    uploaded(api, personal)
    assert create(other_api, DATA)["status"] == "awaiting_archive"  # not a member yet
    Membership.objects.create(team=team, user=other_user)
    reused = create(other_api, DATA)
    assert reused["status"] == "ready" and reused["archive"]["uploadMethod"] == "reused"
    assert lookup(other_api, DATA)["known"] is True
    # Alice's own runs outside the team stay hers.
    assert create(other_api, personal)["status"] == "awaiting_archive"
    assert lookup(other_api, personal)["known"] is False
    assert lookup(other_api, later)["known"] is True
    Membership.objects.filter(user=other_user).delete()
    # A former member: the team's archives are no longer theirs (their own run's still is).
    assert create(other_api, later)["status"] == "awaiting_archive"
    assert create(other_api, DATA)["status"] == "ready"


def test_a_stored_file_that_is_gone_or_expired_is_not_reused(api):
    first = uploaded(api, DATA)
    run = Run.objects.get(pk=first["id"])
    storage().delete(run.archive_file)
    assert create(api, DATA)["status"] == "awaiting_archive"
    again = uploaded(api, DATA)
    Run.objects.filter(pk=again["id"]).update(archive_expired_at=run.created_at)
    assert create(api, DATA)["status"] == "awaiting_archive"
    assert lookup(api, DATA)["known"] is False


def test_lookup_refuses_a_malformed_digest(api, client):
    assert api.get("/api/v1/archives/abc", {"sizeBytes": 3}).status_code == 400
    meta = archive_meta(DATA)
    resp = api.get(f"/api/v1/archives/{meta['sha256']}")
    assert resp.status_code == 400 and "sizeBytes" in error_of(resp)["details"]["fields"]
    assert client.get(f"/api/v1/archives/{meta['sha256']}?sizeBytes=1").status_code == 401


def test_deleting_a_run_keeps_an_archive_another_run_shares(api, settings):
    first = uploaded(api, DATA)
    second = create(api, DATA)
    name = Run.objects.get(pk=first["id"]).archive_file
    assert Run.objects.get(pk=second["id"]).archive_file == name
    own = storage().save(f"artifacts/{first['id']}/a.txt", ContentFile(b"a"))
    Artifact.objects.create(
        run_id=first["id"], path="a.txt", size_bytes=1, sha256="0" * 64, content_type="x", file=own
    )
    with settings_on_commit():
        services.run_delete(run=Run.objects.get(pk=first["id"]))
    assert storage().exists(name) and not storage().exists(own)
    assert api.get(f"/api/v1/workspace-runs/{second['id']}").json()["status"] == "ready"
    assert services.run_start(run=Run.objects.get(pk=second["id"])).status == "queued"
    Run.objects.filter(pk=second["id"]).update(status="canceled")
    with settings_on_commit():
        services.run_delete(run=Run.objects.get(pk=second["id"]))
    assert not storage().exists(name)  # the last run that used it is gone


def settings_on_commit():
    """Run the on_commit callbacks of what happens inside (the test's transaction never
    commits)."""
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)


def test_a_run_sharing_a_deleted_runs_archive_still_runs(worker, api, runs):
    data = make_targz({"run.sh": "echo shared archive\n"})
    first = uploaded(api, data)
    second = create(api, data, command="sh run.sh")
    name = Run.objects.get(pk=first["id"]).archive_file
    assert second["status"] == "ready" and Run.objects.get(pk=second["id"]).archive_file == name
    services.run_delete(run=Run.objects.get(pk=first["id"]))  # committed: on_commit has run
    assert not Run.objects.filter(pk=first["id"]).exists() and storage().exists(name)
    assert runs.start(second["id"]).status_code == 202
    done = runs.wait(second["id"])
    assert done["status"] == "succeeded", done
    assert runs.output(second["id"]) == "shared archive\n"
