"""Per-run resources through the API: `resources` on create within the smallest of the
service's, the template's and the team's maximums (else 400 naming it), the defaults filled in,
kept by reruns; the run object's `queue` while queued. The sandbox getting them is the
docker-marked test at the end."""

from dataclasses import replace

import pytest
from django.conf import settings as conf

from runs import tasks
from runs.models import Membership, Quota, Run, Team
from runs.sandbox_templates.models import Template
from runs.scheduling.dispatch import run_claim
from runs.scheduling.resources import limits_for, mib
from runs.worker.sandbox import limits_from_settings

from .helpers import error_of, make_targz, wait_until

DATA = make_targz({"a.txt": "a"})


@pytest.fixture
def quiet(monkeypatch):
    """Started runs stay queued: nothing consumes their tasks here."""
    monkeypatch.setattr(tasks.execute_run, "delay_on_commit", lambda run_id: None)


def create(api, **fields):
    body = {"template": "python-node", "command": "true", "reuseArchive": False}
    body["archive"] = {"sizeBytes": len(DATA), "sha256": "a" * 64}
    return api.post("/api/v1/workspace-runs", {**body, **fields}, format="json")


def refused(resp, field: str) -> dict:
    assert resp.status_code == 400, resp.content
    err = error_of(resp)
    assert err["code"] == "invalid_request"
    assert field in err["details"]["fields"], err
    return err


@pytest.mark.django_db
def test_defaults_are_filled_in_when_nothing_is_asked(api):
    run = create(api).json()
    assert run["resources"] == {
        "cpus": conf.CROWNEST_SANDBOX_CPUS,
        "memoryMiB": mib(conf.CROWNEST_SANDBOX_MEMORY),
        "diskMiB": mib(conf.CROWNEST_SANDBOX_DISK),
    }
    assert run["queue"] is None  # not queued
    assert Run.objects.get(pk=run["id"]).resources == run["resources"]


@pytest.mark.django_db
def test_asked_resources_within_the_maximums_are_kept(api):
    asked = {"cpus": 2, "memoryMiB": 300, "diskMiB": 64}
    run = create(api, resources=asked).json()
    assert run["resources"] == asked
    assert Run.objects.get(pk=run["id"]).resources == asked
    default = create(api).json()["resources"]
    part = create(api, resources={"cpus": 0.5}).json()["resources"]
    assert part == {**default, "cpus": 0.5}  # what was not asked for is the default


@pytest.mark.django_db
def test_over_the_service_maximum_is_400_naming_it(api, settings):
    settings.CROWNEST_RUN_MAX_CPUS = 4
    err = refused(create(api, resources={"cpus": 6}), "resources.cpus")
    assert err["details"]["maximum"] == {"cpus": 4, "setBy": "service"}
    assert "maximum of 4 CPUs" in err["message"]
    assert err["details"]["fields"]["resources.cpus"] == [
        "must be at most 4 (this service's maximum)"
    ]
    assert Run.objects.count() == 0


@pytest.mark.django_db
def test_the_templates_maximum_when_lower(api):
    Template.objects.filter(name="python-node").update(max_memory_mib=512)
    err = refused(create(api, resources={"memoryMiB": 513}), "resources.memoryMiB")
    assert err["details"]["maximum"] == {"memoryMiB": 512, "setBy": "template"}
    assert "template python-node's maximum of 512 MiB of memory" in err["message"]
    assert create(api, resources={"memoryMiB": 512}).status_code == 201


@pytest.mark.django_db
def test_the_teams_maximum_when_lowest(api, user):
    team = Team.objects.create(slug="lab", name="Lab")
    Membership.objects.create(team=team, user=user)
    Quota.objects.create(team=team, max_disk_mib=100)
    Template.objects.filter(name="python-node").update(max_disk_mib=200)
    err = refused(create(api, team="lab", resources={"diskMiB": 150}), "resources.diskMiB")
    assert err["details"]["maximum"] == {"diskMiB": 100, "setBy": "team"}
    assert "team lab's maximum of 100 MiB of disk" in err["message"]
    assert create(api, resources={"diskMiB": 150}).status_code == 201  # not filed under lab


@pytest.mark.django_db
@pytest.mark.parametrize(
    "resources",
    [{"cpus": "2"}, {"cpus": True}, {"cpus": 0}, {"memoryMiB": 1.5}, {"gpus": 1}, [1]],
)
def test_malformed_resources_are_400(api, resources):
    assert create(api, resources=resources).status_code == 400


@pytest.mark.django_db
def test_reruns_keep_the_resources(api, runs, settings):
    original = create(api, resources={"cpus": 3, "memoryMiB": 700}).json()
    settings.CROWNEST_RUN_MAX_CPUS = 2  # lowered since: the re-run keeps what was granted
    new = api.post(f"/api/v1/workspace-runs/{original['id']}/rerun").json()
    assert new["resources"] == original["resources"]


@pytest.mark.django_db
def test_queued_run_shows_its_queue_place_and_reason(runs, user, quiet):
    Quota.objects.create(user=user, max_running=1)
    first, second = (runs.submit({"a.txt": "a"})["id"] for _ in range(2))
    assert runs.get(first)["queue"] == {"position": 1, "reason": "waiting for a free slot"}
    assert runs.get(second)["queue"] == {"position": 2, "reason": "waiting for a free slot"}
    assert run_claim(host="h", worker="w") == first
    assert runs.get(first)["queue"] is None  # running
    limited = {"position": 1, "reason": "alice is at their limit of 1 running runs"}
    assert runs.get(second)["queue"] == limited
    listed = runs.api.get("/api/v1/workspace-runs").json()
    rows = listed["results"]
    assert {r["id"]: r["queue"] for r in rows} == {first: None, second: limited}


def test_limits_for_keeps_the_settings_spelling_for_defaults():
    base = limits_from_settings()
    plain = limits_for(Run(resources={}), base)
    assert plain == base  # the warm pool matches containers by their limits
    asked = limits_for(Run(resources={"cpus": 2, "memoryMiB": 300, "diskMiB": 64}), base)
    assert (asked.cpus, asked.memory, asked.disk) == (2.0, "300m", "64m")
    # A host without workspace filesystems gives none, whatever the run carries.
    unbounded = limits_for(Run(resources={"diskMiB": 64}), replace(base, disk=""))
    assert unbounded.disk == ""


@pytest.mark.django_db
def test_the_run_page_says_where_a_queued_run_waits_and_why(runs, user, client, quiet):
    Quota.objects.create(user=user, max_running=1)
    first, second = (runs.submit({"a.txt": "a"})["id"] for _ in range(2))
    run_claim(host="h", worker="w")
    client.force_login(user)
    page = client.get(f"/runs/{second}").content.decode()
    assert "position 1 in the queue, alice is at their limit of 1 running runs." in page
    assert 'id="queue"' not in client.get(f"/runs/{first}").content.decode()  # running


@pytest.mark.docker
def test_the_sandbox_gets_the_runs_resources(runs, worker):
    cg = "/sys/fs/cgroup"  # cgroup v2 files, else v1's (this machine's engine has v1)
    script = (
        f"nproc; cat {cg}/memory.max 2>/dev/null || cat {cg}/memory/memory.limit_in_bytes; "
        f"cat {cg}/cpu.max 2>/dev/null || "
        f"echo $(cat {cg}/cpu/cpu.cfs_quota_us) $(cat {cg}/cpu/cpu.cfs_period_us); "
        "df -k /workspace | tail -1 | awk '{print $2}'"
    )
    asked = {"cpus": 2, "memoryMiB": 300, "diskMiB": 64}
    run = runs.submit({"a.txt": "a"}, command=script, resources=asked)
    done = runs.wait(run["id"], timeout=120)
    assert done["status"] == "succeeded", runs.events(run["id"])[-3:]
    nproc, memory_max, cpu_max, disk_kib = runs.output(run["id"]).split("\n")[:4]
    assert int(nproc) == 2
    assert int(memory_max) == 300 * 1024 * 1024
    assert cpu_max.split() == ["200000", "100000"]  # 2 CPUs of CFS quota per period
    assert 48 * 1024 < int(disk_kib) <= 64 * 1024  # /workspace is a 64 MiB filesystem
    assert done["resources"] == asked
    limits = Run.objects.get(pk=run["id"]).limits
    assert (limits["cpus"], limits["memory"], limits["disk"]) == (2.0, "300m", "64m")
    # the default is one pinned CPU: the asked-for two are what made nproc say 2
    plain = runs.submit({"a.txt": "a"}, command="nproc")
    assert runs.wait(plain["id"], timeout=120)["status"] == "succeeded"
    assert runs.output(plain["id"]).strip() == "1"


@pytest.mark.docker
def test_a_run_kept_by_a_quota_starts_when_the_slot_frees(runs, user, worker):
    """The suite's worker has free slots and no reaper pass: only the slot task sent when the
    first run ends can start the second."""
    Quota.objects.create(user=user, max_running=1)
    first = runs.submit({"a.txt": "a"}, command="sleep 3")["id"]
    runs.wait(first, until=lambda r: r["status"] == "running")
    second = runs.submit({"a.txt": "a"}, command="echo second")["id"]
    reason = {"position": 1, "reason": "alice is at their limit of 1 running runs"}
    wait_until(lambda: Run.objects.filter(pk=first, status="running").exists())
    assert runs.get(second)["queue"] == reason
    assert runs.wait(first)["status"] == "succeeded"
    done = runs.wait(second, timeout=60)
    assert done["status"] == "succeeded" and runs.output(second) == "second\n"
    assert done["startedAt"] >= runs.get(first)["finishedAt"]
