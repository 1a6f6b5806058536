"""The reaper: lost workers, stray sandboxes, lost tasks. Every pass lists the sandboxes on the
Docker engine, so the whole file needs it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from runs import lifecycle, tasks
from runs.models import Run
from runs.tasks import reap
from runs.worker.sandbox import get_sandbox, limits_from_settings
from runs.worker.sandbox.base import RunSpec

from .helpers import make_targz, run_containers

pytestmark = [pytest.mark.django_db, pytest.mark.docker]


def ready_run(runs):
    data = make_targz({"a.txt": "a"})
    run = runs.create(data)
    runs.upload(run["id"], data)
    return run["id"]


def test_run_whose_worker_vanished_fails_as_lost_worker(runs, api):
    run_id = ready_run(runs)
    assert lifecycle.transition(run_id, Run.Status.QUEUED)
    stale = timezone.now() - timedelta(hours=1)
    assert lifecycle.transition(run_id, Run.Status.RUNNING, worker="gone:1", worker_seen_at=stale)
    report = reap()
    assert run_id in report["lost"]
    run = runs.get(run_id)
    assert (run["status"], run["failureReason"]) == ("failed", "lost_worker")
    events = runs.events(run_id)
    assert events[-1]["type"] == "terminal"
    assert any(e["type"] == "error" and e["data"]["code"] == "lost_worker" for e in events)
    assert api.get(f"/api/v1/workspace-runs/{run_id}/evidence").status_code == 200
    assert run_id not in reap()["lost"]  # once only


def test_live_worker_is_left_alone(runs):
    run_id = ready_run(runs)
    lifecycle.transition(run_id, Run.Status.QUEUED)
    lifecycle.transition(run_id, Run.Status.RUNNING, worker="w", worker_seen_at=timezone.now())
    assert run_id not in reap()["lost"]
    assert Run.objects.get(pk=run_id).status == "running"


def test_cancel_requested_then_worker_lost_ends_canceled(runs, api):
    run_id = ready_run(runs)
    lifecycle.transition(run_id, Run.Status.QUEUED)
    lifecycle.transition(run_id, Run.Status.RUNNING, worker="w", worker_seen_at=timezone.now())
    assert api.post(f"/api/v1/workspace-runs/{run_id}/cancel").json()["cancelRequested"] is True
    Run.objects.filter(pk=run_id).update(worker_seen_at=timezone.now() - timedelta(hours=1))
    reap()
    assert runs.get(run_id)["status"] == "canceled"


def test_stray_sandbox_of_an_ended_run_is_removed(runs, docker_client, settings):
    run_id = ready_run(runs)
    api_cancel = runs.api.post(f"/api/v1/workspace-runs/{run_id}/cancel")
    assert api_cancel.status_code == 202
    image = settings.CROWNEST_TEMPLATES["python-node"]["image"]
    sandbox = get_sandbox()
    sandbox.prepare(RunSpec(run_id, image, ["true"], {}, limits_from_settings()))
    sandbox.execute(RunSpec(run_id, image, ["sleep", "30"], {}, limits_from_settings()))
    assert run_containers(docker_client, run_id)
    assert run_id in reap()["removed"]
    assert run_containers(docker_client, run_id) == []
    assert run_id not in sandbox.run_ids()


def test_lost_queued_task_is_sent_again(runs, monkeypatch):
    stale, fresh = ready_run(runs), ready_run(runs)
    for run_id in (stale, fresh):
        assert lifecycle.transition(run_id, Run.Status.QUEUED)
    Run.objects.filter(pk=stale).update(queued_at=timezone.now() - timedelta(hours=1))
    sent = []
    monkeypatch.setattr(tasks.execute_run, "delay", sent.append)
    assert reap()["requeue"] == [stale]
    assert sent == [stale]  # the task goes to the broker again; the fresh run's is not lost
    assert Run.objects.get(pk=stale).status == "queued"
