"""The one run-ended path (runs/ending.py): order, exactly-once, and endings cut short."""

import threading

import pytest
from django.db import connection

from evidence.models import EvidenceBundle
from runs import lifecycle
from runs.ending import Outcome, after_end, run_end, run_ended
from runs.models import Run, RunEvent
from runs.worker import reaper

from .helpers import make_targz

S = Run.Status


class RecordingSandbox:
    """Stands in for the worker's sandbox: records what is removed, and what existed then."""

    def __init__(self):
        self.removed = []

    def remove(self, run_id):
        self.removed.append(
            (run_id, EvidenceBundle.objects.filter(run_id=run_id).exists(), terminal(run_id))
        )


def terminal(run_id):
    return RunEvent.objects.filter(run_id=run_id, type="terminal").count()


def running_run(runs) -> str:
    data = make_targz({"a.txt": "a"})
    run = runs.create(data)
    assert runs.upload(run["id"], data).status_code == 200
    assert lifecycle.transition(run["id"], S.QUEUED)
    assert lifecycle.transition(run["id"], S.RUNNING, worker="w", sandbox_id="sb")
    return run["id"]


@pytest.mark.django_db
def test_terminal_then_evidence_then_sandbox_removal(runs):
    run_id = running_run(runs)
    sandbox = RecordingSandbox()
    timings = run_end(run_id, Outcome(S.FAILED, 3, "exit_code"), sandbox=sandbox)
    assert set(timings) == {"evidence", "cleanup"}
    # When the sandbox went, the terminal event and the bundle were already there.
    assert sandbox.removed == [(run_id, True, 1)]
    run = Run.objects.get(pk=run_id)
    assert (run.status, run.exit_code, run.failure_reason) == ("failed", 3, "exit_code")
    assert run.sandbox_removed_at is not None and run.ending_done_at is not None
    bundle = EvidenceBundle.objects.get(run_id=run_id)
    assert bundle.data["status"] == "failed" and bundle.data["sandbox"]["kept"] is False


@pytest.mark.django_db
def test_the_phases_are_stored_with_the_terminal_status(runs):
    """Whoever sees the run ended (the evidence, written right after the terminal event, or a
    client reading the run) sees its phases; evidence and cleanup are added after."""
    run_id = running_run(runs)
    seen = []

    def look(run_id, **_):
        seen.append((terminal(run_id), Run.objects.get(pk=run_id).phases))

    measured = {"queue": 0.1, "sandbox": 0.2, "extract": 0.3, "command": 0.4}
    run_ended.connect(look, dispatch_uid="test.look")
    try:
        run_end(run_id, Outcome(S.SUCCEEDED, 0), sandbox=RecordingSandbox(), phases=measured)
    finally:
        run_ended.disconnect(dispatch_uid="test.look")
    assert seen == [(1, measured)]


@pytest.mark.docker
def test_the_first_read_that_shows_the_end_shows_the_phases(runs, worker):
    run = runs.submit({"a.txt": "a"}, command="cat a.txt", artifactPaths=["a.txt"])
    ended = runs.wait(run["id"])  # the first read whose status is terminal
    assert ended["status"] == "succeeded"
    assert set(ended["phases"]) >= {"queue", "sandbox", "extract", "command", "collect"}
    done = runs.wait(run["id"], until=lambda r: "cleanup" in r["phases"])
    # every phase but `pull`, which only a host that lacked the image has (tests/test_registry.py)
    assert set(done["phases"]) == {p.value for p in Run.Phase} - {Run.Phase.PULL}


@pytest.mark.django_db
def test_second_call_does_nothing(runs):
    run_id = running_run(runs)
    sandbox = RecordingSandbox()
    assert run_end(run_id, Outcome(S.SUCCEEDED, 0), sandbox=sandbox) is not None
    bundle = EvidenceBundle.objects.get(run_id=run_id)
    # A redelivered task or the reaper arriving late: a different outcome changes nothing.
    error = {"code": "lost_worker", "message": "x"}
    assert run_end(run_id, Outcome(S.FAILED, None, "lost_worker", error), sandbox=sandbox) is None
    assert Run.objects.get(pk=run_id).status == S.SUCCEEDED
    assert terminal(run_id) == 1
    assert not RunEvent.objects.filter(run_id=run_id, type="error").exists()
    assert EvidenceBundle.objects.get(run_id=run_id).sha256 == bundle.sha256
    assert len(sandbox.removed) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_endings_end_the_run_once(runs):
    run_id = running_run(runs)
    results, barrier = [], threading.Barrier(4)

    def end(outcome):
        barrier.wait()
        try:
            results.append(run_end(run_id, outcome, sandbox=RecordingSandbox()))
        finally:
            connection.close()

    outcomes = [
        Outcome(S.SUCCEEDED, 0),
        Outcome(S.CANCELED),
        Outcome(S.FAILED, None, "lost_worker", {"code": "lost_worker", "message": "gone"}),
        Outcome(S.FAILED, 124, "timeout"),
    ]
    threads = [threading.Thread(target=end, args=(o,)) for o in outcomes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(r is not None for r in results) == 1
    run = Run.objects.get(pk=run_id)
    assert terminal(run_id) == 1
    bundle = EvidenceBundle.objects.get(run_id=run_id)
    assert bundle.data["status"] == run.status
    assert bundle.data["terminalEvent"]["data"]["status"] == run.status
    # Only the winner's error event (if it had one) is in the log.
    errors = RunEvent.objects.filter(run_id=run_id, type="error").count()
    assert errors == (1 if run.failure_reason == "lost_worker" else 0)


@pytest.mark.docker
def test_cancel_before_start_is_finished_and_signed_by_a_worker(runs, api, worker):
    data = make_targz({"a.txt": "a"})
    run = runs.create(data)
    resp = api.post(f"/api/v1/workspace-runs/{run['id']}/cancel")
    assert resp.status_code == 202 and resp.json()["status"] == "canceled"
    # The web process holds no signing key: a worker writes the bundle and signs it.
    bundle = runs.wait_evidence(run["id"], timeout=20)
    assert bundle["status"] == "canceled" and bundle["attestation"]["keyid"]
    signed = api.get(f"/api/v1/workspace-runs/{run['id']}/evidence/attestation")
    assert signed.status_code == 200
    assert Run.objects.get(pk=run["id"]).ending_done_at is not None


@pytest.mark.django_db
def test_an_ending_cut_short_is_finished_by_the_reaper(runs, settings):
    run_id = running_run(runs)

    def broken(**_):
        raise RuntimeError("storage down")

    run_ended.connect(broken, dispatch_uid="test.broken")
    try:
        run_end(run_id, Outcome(S.SUCCEEDED, 0), sandbox=RecordingSandbox())
    finally:
        run_ended.disconnect(dispatch_uid="test.broken")
    run = Run.objects.get(pk=run_id)
    assert run.status == S.SUCCEEDED and run.ending_done_at is None
    Run.objects.filter(pk=run_id).update(finished_at=run.finished_at.replace(year=2020))
    sandbox = RecordingSandbox()
    assert reaper.unfinished_endings(sandbox) == [run_id]
    assert Run.objects.get(pk=run_id).ending_done_at is not None
    assert reaper.unfinished_endings(sandbox) == []
    # after_end is idempotent: the bundle is the one already written.
    sha = EvidenceBundle.objects.get(run_id=run_id).sha256
    after_end(run_id, sandbox=sandbox)
    assert EvidenceBundle.objects.get(run_id=run_id).sha256 == sha
