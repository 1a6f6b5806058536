"""Retention: archives and artifacts past their age are removed (in batches, after commit), a
pinned run's are kept, a shared archive only goes with its last young run, expired artifacts
answer 410, and Evidence Bundles, attestations and event logs are never touched."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import TestCase
from django.utils import timezone

from evidence import keys
from evidence.models import Attestation, EvidenceBundle
from runs.blobs import storage
from runs.ending import Outcome, run_end
from runs.models import Artifact, Membership, Run, RunEvent, Team
from runs.retention import retention_sweep

from .helpers import archive_meta, error_of, make_targz, stored_artifact

pytestmark = pytest.mark.django_db
S = Run.Status
OLD = timedelta(days=40)


@pytest.fixture(autouse=True)
def ages(settings, tmp_path):
    settings.CROWNEST_RETENTION_ARCHIVE_DAYS = 30
    settings.CROWNEST_RETENTION_ARTIFACT_DAYS = 30
    settings.CROWNEST_EVIDENCE_KEY_FILE = tmp_path / "key.pem"
    keys.key_generate(settings.CROWNEST_EVIDENCE_KEY_FILE)


def ended(runs, data: bytes, *, age=OLD, artifact=b"report", reuse=False) -> str:
    """A run that ended `age` ago with one artifact and its signed evidence."""
    run = runs.create(data, reuseArchive=reuse)
    if run["status"] == "awaiting_archive":
        assert runs.upload(run["id"], data).status_code == 200
    stored_artifact(run["id"], "out.txt", artifact)
    Run.objects.filter(pk=run["id"]).update(status=S.RUNNING)
    run_end(run["id"], Outcome(S.SUCCEEDED, 0))
    then = timezone.now() - age
    Run.objects.filter(pk=run["id"]).update(finished_at=then)
    Artifact.objects.filter(run_id=run["id"]).update(created_at=then)
    return run["id"]


def body(resp) -> bytes:
    assert resp.status_code == 200
    return b"".join(resp.streaming_content) if resp.streaming else resp.content


def evidence_state(api, run_id) -> tuple:
    base = f"/api/v1/workspace-runs/{run_id}"
    return (
        body(api.get(f"{base}/evidence")),
        body(api.get(f"{base}/events.ndjson")),
        body(api.get(f"{base}/evidence/attestation")),
        list(RunEvent.objects.filter(run_id=run_id).values_list("seq", "type", "data")),
    )


def sweep(**kw):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return retention_sweep(**kw)


def test_expiry_removes_what_it_should_and_keeps_evidence(api, runs):
    data = make_targz({"a.txt": "old"})
    old = ended(runs, data)
    young = ended(runs, make_targz({"a.txt": "young"}), age=timedelta(days=1))
    old_run = Run.objects.get(pk=old)
    archive, artifact = old_run.archive_file, Artifact.objects.get(run_id=old)
    before = {rid: evidence_state(api, rid) for rid in (old, young)}
    assert all(before[old][:3]) and before[old][3]
    report = sweep(batch=1)
    assert (report.archives, report.artifacts) == (1, 1)
    assert report.archive_bytes == len(data) and report.batches >= 2
    assert not storage().exists(archive) and not storage().exists(artifact.file)
    old_run.refresh_from_db()
    assert old_run.archive_file == "" and old_run.archive_expired_at is not None
    assert old_run.archive_sha256 == archive_meta(data)["sha256"]  # the declaration stays
    # Evidence, attestation and the event log: byte for byte what they were.
    assert {rid: evidence_state(api, rid) for rid in (old, young)} == before
    assert EvidenceBundle.objects.count() == 2 and Attestation.objects.count() == 2
    # The young run keeps everything.
    young_run = Run.objects.get(pk=young)
    assert storage().exists(young_run.archive_file)
    assert storage().exists(Artifact.objects.get(run_id=young).file)
    # The expired artifact: metadata stays, the download answers 410.
    meta = api.get(f"/api/v1/artifacts/{artifact.id}").json()
    assert meta["expiredAt"] and meta["sha256"] == artifact.sha256
    resp = api.get(f"/api/v1/artifacts/{artifact.id}/download")
    assert resp.status_code == 410 and error_of(resp)["code"] == "artifact_expired"
    assert api.get(f"/api/v1/workspace-runs/{old}").json()["archive"]["expiredAt"]
    # A re-run of it awaits the same bytes again; a second sweep finds nothing left.
    rerun = api.post(f"/api/v1/workspace-runs/{old}/rerun").json()
    assert rerun["status"] == "awaiting_archive"
    again = sweep()
    assert (again.archives, again.artifacts) == (0, 0)


def test_dry_run_changes_nothing_and_the_command_prints_counts(runs):
    run_id = ended(runs, make_targz({"a.txt": "dry"}), artifact=b"x" * 1000)
    run = Run.objects.get(pk=run_id)
    out = StringIO()
    call_command("retention_sweep", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "would remove 1 stored archive(s) of 1 run(s)" in text
    assert "would remove 1 artifact(s), 1000 bytes" in text and "nothing was changed" in text
    run.refresh_from_db()
    assert storage().exists(run.archive_file) and run.archive_expired_at is None
    assert Artifact.objects.get(run_id=run_id).expired_at is None
    out = StringIO()
    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command("retention_sweep", stdout=out)
    assert "removed 1 stored archive(s)" in out.getvalue()
    assert Artifact.objects.get(run_id=run_id).expired_at is not None


def test_pinned_runs_and_shared_archives_with_a_young_run_are_kept(api, runs):
    pinned = ended(runs, make_targz({"a.txt": "pinned"}))
    resp = api.patch(f"/api/v1/workspace-runs/{pinned}", {"pinned": True}, format="json")
    assert resp.status_code == 200 and resp.json()["pinned"] is True
    shared = make_targz({"a.txt": "shared"})
    first = ended(runs, shared)
    second = ended(runs, shared, age=timedelta(days=2), reuse=True)
    name = Run.objects.get(pk=first).archive_file
    assert Run.objects.get(pk=second).archive_file == name  # one stored file, two runs
    report = sweep()
    assert report.archives == 0 and report.artifacts == 1  # only the first run's artifact
    assert storage().exists(name)
    assert storage().exists(Run.objects.get(pk=pinned).archive_file)
    assert Artifact.objects.get(run_id=pinned).expired_at is None
    # Once the second run is old too, the shared file goes, for both runs.
    Run.objects.filter(pk=second).update(finished_at=timezone.now() - OLD)
    assert sweep().archives == 1 and not storage().exists(name)
    names = Run.objects.filter(pk__in=[first, second]).values_list("archive_file", flat=True)
    assert set(names) == {""}


def test_only_the_owner_pins_and_zero_days_keeps_forever(api, other_api, runs, user, other_user):
    run_id = ended(runs, make_targz({"a.txt": "forever"}))
    resp = other_api.patch(f"/api/v1/workspace-runs/{run_id}", {"pinned": True}, format="json")
    assert resp.status_code == 404  # not visible to another user
    bad = api.patch(f"/api/v1/workspace-runs/{run_id}", {"pinned": "yes"}, format="json")
    assert bad.status_code == 400
    # A team member sees a team run but does not own it: 403, and nothing changes.
    team = Team.objects.create(slug="ops", name="Ops")
    Membership.objects.create(team=team, user=user)
    Membership.objects.create(team=team, user=other_user)
    Run.objects.filter(pk=run_id).update(team=team)
    resp = other_api.patch(f"/api/v1/workspace-runs/{run_id}", {"pinned": True}, format="json")
    assert resp.status_code == 403 and error_of(resp)["code"] == "forbidden"
    empty = api.patch(f"/api/v1/workspace-runs/{run_id}", {}, format="json")
    assert empty.status_code == 200 and empty.json()["pinned"] is False
    report = sweep(archive_days=0, artifact_days=0)
    assert (report.archives, report.artifacts) == (0, 0)


def test_a_ready_run_whose_archive_expired_goes_back_to_awaiting_archive(api, runs):
    data = make_targz({"a.txt": "ready"})
    run = runs.create(data)
    assert runs.upload(run["id"], data).status_code == 200
    Run.objects.filter(pk=run["id"]).update(archive_verified_at=timezone.now() - OLD)
    assert sweep().archives == 1
    now = api.get(f"/api/v1/workspace-runs/{run['id']}").json()
    assert now["status"] == "awaiting_archive" and now["archive"]["expiredAt"]
    resp = runs.start(run["id"])
    assert resp.status_code == 409 and error_of(resp)["code"] == "archive_required"
    assert runs.upload(run["id"], data).json()["status"] == "ready"
    assert runs.start(run["id"]).status_code == 202


def test_starting_a_ready_run_whose_stored_file_vanished_fails_clearly(api, runs):
    data = make_targz({"a.txt": "vanished"})
    run = runs.create(data)
    assert runs.upload(run["id"], data).status_code == 200
    storage().delete(Run.objects.get(pk=run["id"]).archive_file)
    resp = runs.start(run["id"])
    assert resp.status_code == 409 and error_of(resp)["code"] == "archive_required"
    assert error_of(resp)["details"]["archiveExpired"] is True
    assert runs.get(run["id"])["status"] == "awaiting_archive"


def test_run_page_marks_an_expired_artifact(client, user, runs):
    run_id = ended(runs, make_targz({"a.txt": "page"}))
    client.force_login(user)
    assert b"artifact-download" in client.get(f"/runs/{run_id}").content
    sweep()
    page = client.get(f"/runs/{run_id}").content
    assert b"expired (retention)" in page and b"artifact-download" not in page
