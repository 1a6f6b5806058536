"""The warm pool: started containers waiting for runs, each used once, refilled, drained when
a template's current version changes (a PATCH built on a worker, or an image made outside the
workers), and removed by the reaper when their worker dies. What it keeps warm comes from the
Template table alone: the current ready version of each template marked warm."""

import signal
import socket
import subprocess
import threading
from unittest import mock

import docker
import pytest
from django.conf import settings
from django.test import override_settings

from runs import tasks
from runs.models import Template, TemplateVersion
from runs.worker import reaper
from runs.worker.sandbox.docker import DockerSandbox
from runs.worker.sandbox.pool import claim_take, pool_list

from .helpers import client_for, to_queue, wait_until, worker_process

pytestmark = pytest.mark.docker
QUEUE = "crownest-test-pool"
TAG = "crownest/python-node:pool-test"
POOL = "org.crownest.pool"
INSTANCE = f"{settings.CROWNEST_INSTANCE}-pool"


def pooled(docker_client, pid: int) -> list:
    """The started pool containers kept by the worker whose main process is `pid`."""
    owner = f"org.crownest.owner={socket.gethostname()}:{pid}"
    pooled = {"label": owner, "name": "crownest-pool-"}
    found = docker_client.containers.list(filters=pooled, ignore_removed=True)
    return [c for c in found if c.status == "running"]


def images_of(docker_client, pid: int) -> list[str]:
    return sorted(c.labels[POOL] for c in pooled(docker_client, pid))


@pytest.fixture
def pool_worker(worker, docker_client, tmp_path):
    """A worker of its own (pool of 2) whose runs this test sends it."""
    # An instance of its own: pools are per host and instance, and the suite's worker has one.
    env = {
        "CROWNEST_SANDBOX_POOL_SIZE": "2",
        "CROWNEST_INSTANCE": INSTANCE,
        "CROWNEST_SANDBOX_TMP_SIZE": "64m",  # room for a virtualenv in /tmp
    }
    with (
        worker_process(QUEUE, tmp_path, env, concurrency=2) as (proc, _log),
        mock.patch.object(tasks.execute_run, "delay_on_commit", to_queue(QUEUE)),
    ):
        wait_until(lambda: len(pooled(docker_client, proc.pid)) == 2, timeout=60)
        yield proc


@pytest.fixture
def staff(django_user_model):
    return client_for(django_user_model.objects.create_user("root", is_staff=True))


def wait_built(api, name: str, timeout: float = 600) -> dict:
    def ended():
        body = api.get(f"/api/v1/templates/{name}").json()
        return body if body["status"] != "building" else None

    built = wait_until(ended, timeout=timeout, interval=1, message=f"{name} still building")
    assert built["status"] == "ready", built["buildLog"][-3000:]
    return built


def retire_and_remove(docker_client, version: TemplateVersion, digest: str) -> None:
    """Retire a version the test made; once no pool keeps its image, remove the image."""
    TemplateVersion.objects.filter(pk=version.pk).update(retired_at=version.created_at)
    label = {"label": f"{POOL}={digest}"}
    # The low-level list: containers.list() inspects each one, and these are being removed.
    wait_until(lambda: not docker_client.api.containers(all=True, filters=label), timeout=60)
    docker_client.images.remove(digest, force=True)


def test_a_pooled_container_serves_one_run_and_the_pool_refills(runs, docker_client, pool_worker):
    before = {c.id for c in pooled(docker_client, pool_worker.pid)}
    run = runs.submit({"a.txt": "a"}, command="cat a.txt; echo; echo $HOME $USER $LANG; nproc")
    done = runs.wait(run["id"])
    assert done["status"] == "succeeded"
    out = runs.output(run["id"]).split()
    assert out == ["a", "/home/sandbox", "sandbox", "C.UTF-8", "1"]  # nproc matches 1 CPU
    # the run's container was one of the pool's, renamed to the run's sandbox name
    events = runs.events(run["id"])
    assert done["sandbox"]["id"] == f"crownest-run-{run['id']}"
    wait_until(lambda: runs.get(run["id"])["sandbox"]["removedAt"], timeout=30)
    after = wait_until(
        lambda: len(ids := {c.id for c in pooled(docker_client, pool_worker.pid)}) == 2 and ids,
        timeout=60,
    )
    assert len(before - after) == 1, "exactly one pooled container was used"
    taken = (before - after).pop()
    with pytest.raises(docker.errors.NotFound):  # used once: gone, never handed out again
        docker_client.containers.get(taken)
    assert events[-1]["type"] == "terminal"


def test_the_sandbox_behaves_like_a_normal_users_machine(runs, pool_worker):
    """Real tools' first-run behaviour: caches and logs in $HOME, a venv in /tmp, git."""
    script = (
        "touch $HOME/x && npm config get cache && python3 -m venv /tmp/v && "
        "/tmp/v/bin/python -c 'import sys; print(sys.prefix)' && "
        "git init -q repo && git -C repo status --short && echo git-ok && "
        "npm init -y >/dev/null && npm install --offline --no-audit left-pad 2>&1 | tail -1; "
        "ls $HOME/.npm/_logs | head -1; nproc; echo $USER $LANG $TMPDIR; "
        "python3 -c 'import os; print(len(os.sched_getaffinity(0)))'"
    )
    run = runs.submit({"a.txt": "a"}, command=script)
    done = runs.wait(run["id"], timeout=120)
    out = runs.output(run["id"]).splitlines()
    assert done["status"] == "succeeded", runs.output(run["id"], "stderr")
    assert out[0] == "/home/sandbox/.npm" and out[1] == "/tmp/v" and "git-ok" in out
    assert out[-4].endswith("debug-0.log")  # npm could write its log under $HOME
    assert out[-3:] == ["1", "sandbox C.UTF-8 /tmp", "1"]  # nproc matches the 1-CPU limit


def test_two_runs_never_share_a_workspace(runs, pool_worker):
    first = runs.submit({"a.txt": "a"}, command="echo secret > mine.txt; ls -A /workspace")
    runs.wait(first["id"])
    second = runs.submit({"b.txt": "b"}, command="ls -A /workspace; cat /workspace/mine.txt")
    done = runs.wait(second["id"])
    assert runs.output(first["id"]).split() == ["a.txt", "mine.txt"]
    assert runs.output(second["id"]).split() == ["b.txt"]
    assert done["status"] == "failed"  # mine.txt is not there
    assert "No such file" in runs.output(second["id"], "stderr")


def test_a_new_image_made_outside_the_workers_drains_the_pool(docker_client, pool_worker):
    """build.sh with a changed recipe makes an image under a new tag; `seed_templates` records it
    as python-node's new version: the pool replaces every container of the old one."""
    old = {c.id for c in pooled(docker_client, pool_worker.pid)}
    current = TemplateVersion.objects.filter(template_id="python-node").order_by("-number")[0]
    base = docker_client.containers.create(current.image, command=["true"])
    try:
        image = base.commit(
            repository="crownest/python-node", tag="pool-test", changes=["LABEL v=2"]
        )
    finally:
        base.remove()
    new = TemplateVersion.objects.create(
        template_id="python-node", number=current.number + 1, recipe=current.recipe,
        status="ready", image=TAG, source="images/python-node/build.sh",
    )  # fmt: skip
    try:

        def renewed():
            now = pooled(docker_client, pool_worker.pid)
            fresh = [c for c in now if c.labels[POOL] == image.id]
            return len(fresh) == 2 and not ({c.id for c in now} & old)

        wait_until(renewed, timeout=90)
    finally:
        retire_and_remove(docker_client, new, image.id)


@pytest.mark.timeout(900)  # a real build, on two cores shared with the rest of the suite
def test_a_patched_template_is_kept_warm_on_its_new_version(
    staff, runs, docker_client, pool_worker
):
    """A template marked warm: its current version is kept started; a PATCH of its packages
    builds a new version on a worker, the pool drains the old one's containers and fills with
    the new one's, and the next run starts in one of those (its container carries the pool's
    label). Its first version is python-node's image, made outside the workers, so that one
    build is enough; python-node itself is not kept warm here, so the old containers are the
    template's own."""
    assert (
        staff.patch("/api/v1/templates/python-node", {"warm": False}, format="json").json()["warm"]
        is False
    )
    base = TemplateVersion.objects.get(template_id="python-node", number=1)
    first = docker_client.images.get(base.image).id
    template = Template.objects.create(name="warm-tpl", based_on_id="python-node", warm=True)
    TemplateVersion.objects.create(
        template=template, number=1, recipe=base.recipe, status="ready", image=base.image,
        source=base.source,
    )  # fmt: skip
    wait_until(lambda: images_of(docker_client, pool_worker.pid) == [first, first], timeout=90)

    resp = staff.patch("/api/v1/templates/warm-tpl", {"pipPackages": ["idna"]}, format="json")
    assert resp.status_code == 200 and resp.json()["status"] == "building"
    second = wait_built(staff, "warm-tpl")["imageDigest"]
    assert second != first
    try:
        refilled = [second, second]
        wait_until(lambda: images_of(docker_client, pool_worker.pid) == refilled, timeout=90)
        script = "import idna; print('idna', idna.__version__)"
        run = runs.submit({"a.py": script}, ["python3", "a.py"], template="warm-tpl",
                          keepSandbox=True)  # fmt: skip
        done = runs.wait(run["id"], timeout=120)
        assert done["status"] == "succeeded", runs.output(run["id"], "stderr")
        assert done["imageDigest"] == second and "idna 3." in runs.output(run["id"])
        container = docker_client.containers.get(f"crownest-run-{run['id']}")
        assert container.labels[POOL] == second  # taken from the pool: it started warm
        with override_settings(CROWNEST_INSTANCE=INSTANCE):
            DockerSandbox().remove(run["id"])
    finally:
        retire_and_remove(docker_client, TemplateVersion.objects.get(number=2, template=template),
                          second)  # fmt: skip


def test_a_killed_workers_pool_is_removed_by_the_reaper(docker_client, pool_worker):
    left = pooled(docker_client, pool_worker.pid)
    assert len(left) == 2
    pool_worker.send_signal(signal.SIGKILL)
    pool_worker.wait(10)
    subprocess.run(["pkill", "-9", "-f", f"-Q {QUEUE}"], check=False)  # its pool processes
    with override_settings(CROWNEST_INSTANCE=INSTANCE):
        sandbox = DockerSandbox()  # the reaper of that worker's host and instance
        taken, *rest = left
        assert claim_take(sandbox, taken.id)  # a live worker's run claimed this one first
        removed = reaper.pool_orphans_remove(sandbox)
        assert {c.name for c in rest} <= set(removed) and taken.name not in removed
        assert [c.id for c in pool_list(sandbox)] == [taken.id]
        sandbox.remove_named(taken.name)
        assert pool_list(sandbox) == []
    assert pooled(docker_client, pool_worker.pid) == []


def test_concurrent_claims_of_one_pooled_container_have_one_winner(docker_client):
    """Docker's rename is not a compare-and-swap (two renames of one name can both succeed): the
    claim must still hand each pooled container to exactly one run."""
    image = settings.CROWNEST_TEMPLATES["python-node"]["image"]
    sandbox = DockerSandbox()
    for trial in range(8):
        name = f"crownest-pool-claimtest{trial}"
        container = docker_client.containers.create(image, ["sleep", "60"], name=name)
        try:
            wins = []

            def take(i, container=container, trial=trial, wins=wins):
                if sandbox.claim(container, f"claim{trial}x{i}"):
                    wins.append(i)

            threads = [threading.Thread(target=take, args=(i,)) for i in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert len(wins) == 1, f"trial {trial}: {len(wins)} claimers took one container"
            container.reload()
            assert container.name == f"crownest-run-claim{trial}x{wins[0]}"
        finally:
            container.remove(force=True)
