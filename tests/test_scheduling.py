"""Fair dispatch (runs/scheduling/): a worker's task is a slot that starts the fairest queued run
that may start on its host; concurrency quotas keep runs queued with a reason; a host takes only
runs that fit its free capacity; concurrent claimers never start one run twice."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from runs import lifecycle, tasks
from runs.models import Membership, Quota, Run, Team, WorkerHost
from runs.scheduling.dispatch import run_claim
from runs.scheduling.queue import queue_info

pytestmark = pytest.mark.django_db
S = Run.Status
T0 = timezone.now() - timedelta(hours=1)


@pytest.fixture(autouse=True)
def no_worker(monkeypatch):
    """Nothing consumes the tasks here: the tests call the dispatch function themselves."""
    monkeypatch.setattr(tasks.execute_run, "delay_on_commit", lambda run_id: None)


def queued(owner, n=1, *, team=None, resources=None, at=0) -> list[str]:
    """n queued runs of `owner`, queued one second apart from T0 + `at` seconds."""
    ids = []
    for i in range(n):
        run = Run.objects.create(
            owner=owner,
            team=team,
            template="python-node",
            command="true",
            timeout_seconds=60,
            archive_size_bytes=1,
            archive_sha256="0" * 64,
            resources=resources or {},
            status=S.QUEUED,
            queued_at=T0 + timedelta(seconds=at + i),
        )
        ids.append(run.id)
    return ids


def claim(host="host-a") -> str | None:
    return run_claim(host=host, worker=f"{host}:1")


def claims(n: int, host="host-a") -> list[str | None]:
    return [claim(host) for _ in range(n)]


def end(run_id: str) -> None:
    assert lifecycle.transition(run_id, S.SUCCEEDED)


def info(run_id: str) -> dict | None:
    return queue_info(Run.objects.get(pk=run_id))


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user(username="bob", password="pw-bob")


def team_of(slug: str, *users) -> Team:
    team = Team.objects.create(slug=slug, name=slug)
    for u in users:
        Membership.objects.create(team=team, user=u)
    return team


def test_one_run_of_b_starts_before_the_rest_of_as_ten(user, bob):
    a_runs = queued(user, 10)
    (b_run,) = queued(bob, 1, at=100)  # queued after all of A's
    started = claims(3)
    assert started == [a_runs[0], b_run, a_runs[1]]
    assert Run.objects.get(pk=b_run).status == S.RUNNING


def test_positions_follow_the_fair_order(user, bob):
    a_runs = queued(user, 3)
    (b_run,) = queued(bob, 1, at=100)
    assert info(a_runs[0]) == {"position": 1, "reason": "waiting for a free slot"}
    assert info(b_run)["position"] == 2
    assert [info(r)["position"] for r in a_runs[1:]] == [3, 4]
    claim()
    assert info(b_run)["position"] == 1 and info(a_runs[1])["position"] == 2
    assert info(a_runs[0]) is None  # running: no queue


def test_fifo_with_the_fair_queue_off(user, bob, settings):
    settings.CROWNEST_FAIR_QUEUE = False
    a_runs = queued(user, 3)
    (b_run,) = queued(bob, 1, at=100)
    assert claims(4) == [*a_runs, b_run]


def test_between_teams_first_then_owners(user, bob, django_user_model):
    carol = django_user_model.objects.create_user(username="carol", password="pw-carol")
    big, small = team_of("big", user, carol), team_of("small", bob)
    alice_runs = queued(user, 5, team=big)
    carol_runs = queued(carol, 5, team=big, at=10)
    (bob_run,) = queued(bob, 1, team=small, at=100)
    started = claims(4)
    # big's first run, then small's (its team has none running), then big's owners take turns
    assert started == [alice_runs[0], bob_run, carol_runs[0], alice_runs[1]]


def test_user_quota_keeps_a_run_queued_with_its_reason_until_a_slot_frees(user):
    Quota.objects.create(user=user, max_running=1)
    first, second = queued(user, 2)
    assert claim() == first
    assert claim() is None  # the slot's task finds nothing that may start
    assert Run.objects.get(pk=second).status == S.QUEUED
    assert info(second) == {"position": 1, "reason": "alice is at their limit of 1 running runs"}
    end(first)
    assert claim() == second


def test_team_quota_from_the_settings_default(user, bob, settings):
    settings.CROWNEST_QUOTA_TEAM_MAX_RUNNING = 1
    team = team_of("core", user, bob)
    (mine,) = queued(user, 1, team=team)
    (theirs,) = queued(bob, 1, team=team, at=10)
    (personal,) = queued(bob, 1, at=20)
    assert claim() == mine
    # the team's other run waits; bob's run outside the team may start, and goes first
    assert info(theirs) == {"position": 2, "reason": "team core is at its limit of 1 running runs"}
    assert info(personal)["position"] == 1
    assert claim() == personal
    assert claim() is None
    end(mine)
    assert claim() == theirs


def test_a_team_quota_of_its_own_wins_over_the_default(user, settings):
    settings.CROWNEST_QUOTA_TEAM_MAX_RUNNING = 1
    team = team_of("wide", user)
    Quota.objects.create(team=team, max_running=0)  # 0: no limit
    assert len([r for r in claims(3) if r]) == 0  # nothing queued yet
    queued(user, 3, team=team)
    assert None not in claims(3)


def live_host(name: str, **capacity) -> WorkerHost:
    now = timezone.now()
    return WorkerHost.objects.create(
        name=name, slots=2, started_at=now, last_seen_at=now, **capacity
    )


def test_a_run_that_does_not_fit_a_host_is_not_taken_by_it(user):
    live_host("small", cpus=2, memory_mib=4096)
    live_host("large", cpus=8, memory_mib=16384)
    (big,) = queued(user, resources={"cpus": 4, "memoryMiB": 1024})
    (fits,) = queued(user, resources={"cpus": 1, "memoryMiB": 1024}, at=10)
    assert claim("small") == fits  # the bigger, older run is passed over, not waited for
    assert claim("small") is None
    assert Run.objects.get(pk=big).status == S.QUEUED
    assert claim("large") == big
    assert Run.objects.get(pk=big).worker_host == "large"


def test_free_capacity_counts_the_runs_running_on_the_host(user, bob):
    live_host("only", cpus=2, memory_mib=0)
    first, second = queued(user, 2, resources={"cpus": 1})
    (third,) = queued(bob, resources={"cpus": 1}, at=10)
    assert claims(2, "only") == [first, third]
    assert claim("only") is None
    assert info(second)["reason"] == "no worker host has room for 1 CPUs"
    end(first)
    assert claim("only") == second


def test_a_reason_names_memory_that_no_host_has(user):
    live_host("h", cpus=0, memory_mib=2048)
    (run,) = queued(user, resources={"memoryMiB": 4096})
    assert info(run)["reason"] == "no worker host has room for 4096 MiB of memory"


@pytest.mark.django_db(transaction=True)
def test_concurrent_claimers_never_start_one_run_twice(user, bob):
    Quota.objects.create(user=bob, max_running=3)
    mine = queued(user, 24)
    queued(bob, 12, at=100)
    got = claim_at_once(6)
    assert len(got) == len(set(got)) == 24 + 3, got
    assert set(mine) <= set(got)
    assert Run.objects.filter(owner=bob, status=S.RUNNING).count() == 3  # bob's quota held
    running = Run.objects.filter(status=S.RUNNING)
    assert running.count() == 27
    for run_id in got:  # one running status event each
        events = Run.objects.get(pk=run_id).events.filter(type="status", data__status="running")
        assert events.count() == 1


def claim_at_once(threads: int) -> list[str]:
    """`threads` claimers (each its own host and database connection) asking at the same time,
    each until nothing more may start; the runs they started."""
    got: list[str] = []
    barrier = threading.Barrier(threads)

    def claimer(n: int):
        barrier.wait()
        try:
            while (run_id := claim(f"host-{n}")) is not None:
                got.append(run_id)
        finally:
            connection.close()  # this thread's own connection

    workers = [threading.Thread(target=claimer, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    return got


@pytest.mark.django_db(transaction=True)
def test_concurrent_claimers_never_pass_a_quota(user):
    Quota.objects.create(user=user, max_running=2)
    queued(user, 12)
    for _ in range(3):
        assert len(claim_at_once(6)) <= 2
        assert Run.objects.filter(status=S.RUNNING).count() == 2
        for run_id in Run.objects.filter(status=S.RUNNING).values_list("id", flat=True):
            end(run_id)


def test_a_host_records_what_it_lends_at_boot_and_heartbeat(settings):
    from runs.worker.hosts import host_beat, host_register

    settings.CROWNEST_WORKER_HOST = "lender"
    settings.CROWNEST_HOST_CPUS, settings.CROWNEST_HOST_MEMORY_MIB = 6, 8192
    host_register(3)
    host = WorkerHost.objects.get(name="lender")
    assert (host.cpus, host.memory_mib, host.disk_mib, host.slots) == (6, 8192, 0, 3)
    settings.CROWNEST_HOST_DISK_MIB = 50000
    host_beat(3)
    assert WorkerHost.objects.get(name="lender").disk_mib == 50000


@pytest.mark.parametrize("ran, sent", [("wr_ran", [(None,)]), (None, [])])
def test_a_slot_task_that_ran_a_run_sends_one_more(monkeypatch, ran, sent):
    from runs.worker import execution

    monkeypatch.setattr(execution, "run_execute", lambda run_id=None: ran)
    calls = []
    monkeypatch.setattr(tasks.execute_run, "apply_async", lambda args, **kw: calls.append(args))
    tasks.execute_run.apply(args=("wr_any",))
    assert calls == sent
