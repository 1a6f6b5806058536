"""The installation's registry (docs/operations.md, "The registry"): a template version's image
that only host A's engine has is pushed to the registry; a run on host B (a second dockerd,
scripts/second_engine.sh) pulls it by its manifest digest and runs on the same image id, and its
evidence names the registry's digest beside the image id; an image whose id is not the pinned one
is refused; each host's reaper removes the images of retired versions that no run needs."""

import base64
import io
import json
import subprocess
import tarfile
import uuid
from unittest import mock

import docker
import pytest
from django.core.management import call_command

from runs import tasks
from runs.models import Run
from runs.sandbox_templates.build import Builder
from runs.sandbox_templates.models import Template, TemplateVersion
from runs.sandbox_templates.registry import (
    registry_manifest_digest,
    registry_push,
    registry_ref_for,
)
from runs.worker.reaper import reap_host
from runs.worker.sandbox import get_sandbox
from runs.worker.sandbox.transfer import split_ref

from .helpers import ROOT, to_queue, wait_until, worker_process

pytestmark = [pytest.mark.docker, pytest.mark.multihost]
QUEUE = "crownest-test-registry"
V = TemplateVersion.Status


def script(*argv: str) -> str:
    done = subprocess.run(
        ["bash", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def registry() -> str:
    """The registry `make setup` started (started here when it is not running)."""
    return script("scripts/registry.sh")


@pytest.fixture(scope="module")
def engine_b() -> str:
    return script("scripts/second_engine.sh")


def worker_b(engine_b: str, folder, pool: int = 0):
    """A worker host on the second engine alone; every run sent meanwhile goes to it."""
    env = {
        "DOCKER_HOST": engine_b,
        "CROWNEST_WORKER_HOST": "reg-b",
        "CROWNEST_SANDBOX_POOL_SIZE": str(pool),
        "CROWNEST_REGISTRY": "",  # a host pulls what the version names, whatever it pushes to
    }
    return worker_process(QUEUE, folder, env, concurrency=1)


@pytest.fixture
def host_b(worker, engine_b, tmp_path):
    with (
        worker_b(engine_b, tmp_path / "b"),
        mock.patch.object(tasks.execute_run, "delay_on_commit", to_queue(QUEUE)),
    ):
        yield docker.DockerClient(base_url=engine_b)


@pytest.fixture
def images():
    """Images made for a test on engine A, removed from both engines afterwards."""
    made = []
    yield made
    for base_url in (None, *{url for _, url in made if url}):
        client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
        for image_id, _ in made:
            try:
                client.images.remove(image_id, force=True)
            except docker.errors.ImageNotFound:
                pass


def labelled_image(made: list, engine_b: str) -> str:
    """A new image id on engine A whose layers are python-node's (which host B has): the push
    and the pull carry a config and a manifest, not 700 MB."""
    base = TemplateVersion.objects.filter(template_id="python-node").first().image
    dockerfile = f"FROM {base}\nLABEL org.crownest.test={uuid.uuid4().hex}\n".encode()
    image, _ = docker.from_env().images.build(fileobj=io.BytesIO(dockerfile), rm=True)
    made.append((image.id, engine_b))
    return image.id


def tiny_image(made: list, engine_b: str = "") -> str:
    """A one-file image (docker import), unique to this call."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        body = uuid.uuid4().hex.encode()
        info = tarfile.TarInfo("id")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    client = docker.from_env()
    tag = f"crownest/tpl-reg-test:{uuid.uuid4().hex[:12]}"
    client.api.import_image_from_data(buf.getvalue(), repository=tag.split(":")[0], tag=tag[-12:])
    image_id = client.images.get(tag).id
    made.append((image_id, engine_b))
    return image_id


def version_of(name: str, image_id: str, image: str = "", **fields) -> TemplateVersion:
    template, _ = Template.objects.get_or_create(name=name)
    number = template.versions.count() + 1
    fields.setdefault("status", V.READY)
    return TemplateVersion.objects.create(
        template=template,
        number=number,
        image=image or f"crownest/tpl-{name}:v{number}",
        image_digest=image_id,
        **fields,
    )


def has_image(client, image_id: str) -> bool:
    try:
        return client.images.get(image_id).id == image_id
    except docker.errors.ImageNotFound:
        return False


def test_a_host_without_the_image_pulls_it_and_runs_the_same_image(
    runs, api, registry, host_b, engine_b, images
):
    image_id = labelled_image(images, engine_b)
    assert not has_image(host_b, image_id)
    version = version_of("reg-pull", image_id)
    digest = registry_push(sandbox=get_sandbox(), version=version, registry=registry)
    version.refresh_from_db()
    assert version.registry_ref == f"{registry}/crownest/tpl-reg-pull:v1"
    assert version.registry_digest == digest and digest.startswith("sha256:")
    assert digest != image_id  # the manifest's digest, not the image id the runs pin
    assert registry_manifest_digest(version.registry_ref) == digest

    run = runs.submit({"a.txt": "hi"}, command="cat a.txt", template="reg-pull")
    ended = runs.wait(run["id"], timeout=120)
    assert ended["status"] == "succeeded", ended
    assert runs.output(run["id"]) == "hi"
    assert ended["imageDigest"] == image_id and has_image(host_b, image_id)
    assert Run.objects.get(pk=run["id"]).worker_host == "reg-b"
    assert ended["phases"]["pull"] > 0  # a phase of its own, before the sandbox's
    pulls = [
        e["data"]
        for e in runs.events(run["id"])
        if e["type"] == "archive_progress" and e["data"]["phase"] == "pull"
    ]
    assert pulls and pulls[-1]["bytesDone"] == pulls[-1]["bytesTotal"]
    bundle = runs.wait_evidence(run["id"])
    assert bundle["template"]["imageDigest"] == image_id
    assert bundle["template"]["registryDigest"] == digest
    assert bundle["template"]["registryRef"] == version.registry_ref
    envelope = api.get(f"/api/v1/workspace-runs/{run['id']}/evidence/attestation").json()
    statement = json.loads(base64.b64decode(envelope["payload"]))
    deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    (image,) = [d for d in deps if d.get("uri", "").startswith("docker-image://")]
    assert "sha256:" + image["digest"]["sha256"] == image_id
    assert image["annotations"] == {"registryRef": version.registry_ref, "registryDigest": digest}

    # the host has it now: the next run pulls nothing
    again = runs.submit({"a.txt": "again"}, command="cat a.txt", template="reg-pull")
    ended = runs.wait(again["id"], timeout=60)
    assert ended["status"] == "succeeded" and "pull" not in ended["phases"]


def test_an_image_that_is_not_the_pinned_one_is_refused(runs, registry, host_b, engine_b, images):
    other = tiny_image(images, engine_b)
    pushed = version_of("reg-other", other)
    registry_push(sandbox=get_sandbox(), version=pushed, registry=registry)
    pinned = "sha256:" + uuid.uuid4().hex * 2  # what the version says its image is
    version_of(
        "reg-bad",
        pinned,
        registry_ref=pushed.registry_ref,
        registry_digest=pushed.registry_digest,
    )
    run = runs.submit({"a.txt": "a"}, command="echo never", template="reg-bad")
    ended = runs.wait(run["id"], timeout=60)
    assert (ended["status"], ended["failureReason"]) == ("failed", "sandbox_error")
    errors = [e["data"] for e in runs.events(run["id"]) if e["type"] == "error"]
    assert any("refused" in e["message"] and pinned in e["message"] for e in errors), errors
    assert runs.output(run["id"]) == ""
    assert not has_image(host_b, other)  # what the registry gave is not kept


def test_a_host_pulls_a_warm_templates_image_for_its_pool(
    worker, registry, engine_b, images, tmp_path
):
    image_id = labelled_image(images, engine_b)
    Template.objects.filter(name="python-node").update(warm=False)  # this test's pool only
    version = version_of("reg-warm", image_id)
    Template.objects.filter(name="reg-warm").update(warm=True)
    registry_push(sandbox=get_sandbox(), version=version, registry=registry)
    client_b = docker.DockerClient(base_url=engine_b)
    assert not has_image(client_b, image_id)
    with worker_b(engine_b, tmp_path / "b", pool=1):
        pooled = {"label": [f"org.crownest.pool={image_id}", "org.crownest.instance"]}
        wait_until(lambda: client_b.containers.list(filters=pooled), timeout=90)
        assert has_image(client_b, image_id)
    # the worker drained its pool when it stopped
    assert not client_b.containers.list(all=True, filters=pooled)
    # host A's worker (the suite's) kept it warm too: not any more, so its image can go
    Template.objects.filter(name="reg-warm").update(warm=False)
    engine_a = docker.from_env()
    wait_until(lambda: not engine_a.containers.list(all=True, filters=pooled), timeout=30)


@pytest.mark.django_db
def test_the_reaper_prunes_retired_versions_that_no_run_needs(user, images):
    from django.utils import timezone

    sandbox = get_sandbox()
    old, pinned, current = (tiny_image(images) for _ in range(3))
    now = timezone.now()
    version_of("reg-prune", old, retired_at=now)
    kept = version_of("reg-prune", pinned, retired_at=now)
    version_of("reg-prune", current)
    run = Run.objects.create(
        owner=user,
        template="reg-prune",
        command="true",
        timeout_seconds=60,
        archive_size_bytes=1,
        archive_sha256="0" * 64,
        status=Run.Status.QUEUED,
        template_version=kept,
    )
    assert reap_host(sandbox)["images"] == [old]
    assert sandbox.image_id(old) == ""
    assert sandbox.image_id(pinned) == pinned and sandbox.image_id(current) == current
    # once the run that pinned it has ended, its image goes too; the current one stays
    Run.objects.filter(pk=run.pk).update(status=Run.Status.FAILED)
    assert reap_host(sandbox)["images"] == [pinned]
    assert sandbox.image_id(current) == current
    assert reap_host(sandbox)["images"] == []


@pytest.mark.django_db
def test_a_build_ends_by_pushing_its_image(registry, images, settings, tmp_path):
    image_id = tiny_image(images)
    version = version_of("reg-build", "", status=V.BUILDING)
    settings.CROWNEST_REGISTRY = ""
    assert "push" not in Builder(version, tmp_path).phases()
    settings.CROWNEST_REGISTRY = registry
    builder = Builder(version, tmp_path)
    assert builder.phases()[-2:] == ["import", "push"]
    pushed = builder.push(image_id)
    assert pushed["registry_ref"] == f"{registry}/crownest/tpl-reg-build:v1"
    assert registry_manifest_digest(pushed["registry_ref"]) == pushed["registry_digest"]
    assert f"pushed {pushed['registry_ref']} as {pushed['registry_digest']}" in builder.log.text


@pytest.mark.django_db
def test_setup_records_the_registry_digest_of_the_seeded_image(registry):
    """What `make setup` runs: python-node's image, pushed only when the registry lacks it."""
    call_command("template_registry", "push", registry=registry, stdout=io.StringIO())
    seeded = TemplateVersion.objects.get(template_id="python-node", retired_at__isnull=True)
    assert seeded.registry_ref == f"{registry}/{seeded.image}"
    assert seeded.registry_digest == registry_manifest_digest(seeded.registry_ref)
    assert seeded.registry_digest.startswith("sha256:")
    assert seeded.registry_digest != seeded.image_digest


def test_references():
    assert split_ref("127.0.0.1:5055/crownest/tpl-a:v3") == ("127.0.0.1:5055/crownest/tpl-a", "v3")
    assert split_ref("127.0.0.1:5055/crownest/a") == ("127.0.0.1:5055/crownest/a", "latest")
    version = TemplateVersion(template_id="a", number=2, image="crownest/python-node:abc")
    assert registry_ref_for(version, "reg:5000") == "reg:5000/crownest/python-node:abc"
    version.image = "old.example:5000/crownest/tpl-a:v2"
    assert registry_ref_for(version, "reg:5000") == "reg:5000/crownest/tpl-a:v2"
