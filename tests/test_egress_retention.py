"""Retention of recorded downloads: bodies go with the run's archive age, a body shared with a
run that still keeps its own stays, a pinned run or one with a queued replay keeps them, the
digests stay in the log, and a replay of an expired recording is refused with the reason."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.test import TestCase
from django.utils import timezone

from runs.blobs import storage
from runs.egress.models import NetworkRequest, RunNetwork
from runs.egress.store import body_name
from runs.models import Run
from runs.retention import retention_sweep

from .helpers import error_of

pytestmark = pytest.mark.django_db
S = Run.Status
OLD = timedelta(days=40)
SHARED, ONLY_OLD, ONLY_YOUNG = "a" * 64, "b" * 64, "c" * 64


@pytest.fixture(autouse=True)
def ages(settings):
    settings.CROWNEST_RETENTION_ARCHIVE_DAYS = 30


def recorded(user, bodies: dict[str, bytes], *, age=OLD, **fields) -> Run:
    """A finished allowlist run that downloaded `bodies` (sha256 -> bytes), stored like the
    worker stores them."""
    now = timezone.now()
    run = Run.objects.create(
        owner=user, template="python-node", command=["true"], timeout_seconds=60,
        archive_size_bytes=1, archive_sha256="0" * 64, status=S.SUCCEEDED,
        finished_at=now - age, **fields,
    )  # fmt: skip
    RunNetwork.objects.create(run=run, mode="allowlist", recorded_at=now - age)
    for seq, (digest, data) in enumerate(bodies.items(), 1):
        NetworkRequest.objects.create(
            run=run, seq=seq, method="GET", url=f"https://pypi.org/{digest[:4]}",
            host="pypi.org", status=200, size_bytes=len(data), sha256=digest,
            decision="allowed",
        )  # fmt: skip
        if not storage().exists(body_name(digest)):
            storage().save(body_name(digest), ContentFile(data))
    return run


def sweep(**kw):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return retention_sweep(**kw)


def kept(digest: str) -> bool:
    return storage().exists(body_name(digest))


def test_old_bodies_go_shared_ones_stay_and_digests_remain(user):
    old = recorded(user, {SHARED: b"shared", ONLY_OLD: b"old only!"})
    young = recorded(user, {SHARED: b"shared", ONLY_YOUNG: b"young"}, age=timedelta(days=1))
    report = sweep()
    assert (report.network_runs, report.network_bodies, report.network_bytes) == (1, 1, 9)
    assert not kept(ONLY_OLD)
    assert kept(SHARED) and kept(ONLY_YOUNG)
    assert RunNetwork.objects.get(run=old).bodies_expired_at is not None
    assert RunNetwork.objects.get(run=young).bodies_expired_at is None
    # The log (and so the evidence's digests) is untouched.
    assert sorted(NetworkRequest.objects.filter(run=old).values_list("sha256", flat=True)) == [
        SHARED,
        ONLY_OLD,
    ]
    # The young run ages too: now the shared body goes as well; a second sweep finds nothing.
    Run.objects.filter(pk=young.pk).update(finished_at=timezone.now() - OLD)
    assert sweep().network_bodies == 2
    assert not kept(SHARED) and not kept(ONLY_YOUNG)
    assert sweep().network_runs == 0


def test_pinned_runs_and_runs_with_an_active_replay_keep_their_bodies(user):
    pinned = recorded(user, {ONLY_OLD: b"pinned"}, pinned=True)
    original = recorded(user, {ONLY_YOUNG: b"replayed"})
    replay = Run.objects.create(
        owner=user, template="python-node", command=["true"], timeout_seconds=60,
        archive_size_bytes=1, archive_sha256="0" * 64, status=S.QUEUED,
    )  # fmt: skip
    RunNetwork.objects.create(run=replay, mode="replay", replay_of=original)
    assert sweep().network_runs == 0
    assert kept(ONLY_OLD) and kept(ONLY_YOUNG)
    assert RunNetwork.objects.get(run=pinned).bodies_expired_at is None
    # Once the replay has ended, the original's bodies go with its age.
    Run.objects.filter(pk=replay.pk).update(status=S.SUCCEEDED, finished_at=timezone.now())
    assert sweep().network_runs == 1
    assert not kept(ONLY_YOUNG) and kept(ONLY_OLD)


def test_dry_run_counts_and_changes_nothing(user):
    recorded(user, {ONLY_OLD: b"old"})
    report = sweep(dry_run=True)
    assert report.network_runs == 1
    assert kept(ONLY_OLD)
    assert RunNetwork.objects.filter(bodies_expired_at__isnull=False).count() == 0


def test_a_replay_of_an_expired_recording_is_refused_with_the_reason(api, user, settings):
    settings.CROWNEST_EGRESS_ENABLED = True
    old = recorded(user, {ONLY_OLD: b"old"})
    sweep()
    resp = api.post(f"/api/v1/workspace-runs/{old.pk}/rerun", {"network": "replay"}, format="json")
    assert resp.status_code == 409, resp.content
    assert "expired" in error_of(resp)["message"]
