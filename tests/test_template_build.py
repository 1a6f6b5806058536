"""Real template builds on the live worker (docs/templates.md): a template based on python-node
with one pip and one npm package is built (chroot with the host's network, then docker import),
and a run with no network imports both; its evidence names the new version's digest. A build
of a package that does not exist fails with the reason in its log."""

import time

import pytest
from django.conf import settings

from runs.models import Template, TemplateVersion
from runs.sandbox_templates.build import template_build

from .helpers import Runs, archive_meta, client_for, error_of, make_targz, wait_until

DATA = make_targz({"a": "b"})

pytestmark = pytest.mark.docker


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user("root", password="pw-root", is_staff=True)


@pytest.fixture
def staff(staff_user):
    return client_for(staff_user)


def wait_built(api, name: str, timeout: float = 600) -> dict:
    def ended():
        body = api.get(f"/api/v1/templates/{name}").json()
        return body if body["status"] != "building" else None

    return wait_until(ended, timeout=timeout, interval=1, message=f"{name} still building")


def test_a_template_with_a_pip_and_an_npm_package_builds_and_runs_offline(
    staff, runs: Runs, worker, docker_client
):
    started = time.monotonic()
    resp = staff.post(
        "/api/v1/templates",
        {
            "name": "py-extras",
            "description": "python-node with idna and is-number",
            "basedOn": "python-node",
            "pipPackages": ["idna"],
            "npmPackages": ["is-number@7"],
        },
        format="json",
    )
    assert resp.status_code == 201, resp.content
    assert resp.json()["status"] == "building"
    built = wait_built(staff, "py-extras")
    took = time.monotonic() - started
    assert built["status"] == "ready", built["buildLog"][-3000:]
    version = built["versions"][0]
    digest = version["imageDigest"]
    assert digest.startswith("sha256:") and built["imageDigest"] == digest
    print(f"\nbuild took {took:.1f} s; image {version['sizeBytes'] / 2**20:.0f} MiB")
    for phase in ("[1/5] rootfs", "[2/5] pip", "[3/5] npm", "[4/5] finish", "[5/5] import"):
        assert phase in built["buildLog"]
    image = docker_client.images.get(digest)
    labels = image.attrs["Config"]["Labels"]
    base = docker_client.images.get(settings.CROWNEST_TEMPLATES["python-node"]["image"]).id
    assert (
        labels["org.crownest.template"] == "py-extras" and labels["org.crownest.based-on"] == base
    )
    assert TemplateVersion.objects.get(template_id="py-extras").recipe["basedOnDigest"] == base
    assert image.attrs["Config"]["User"] == "1000:1000"
    assert "NODE_PATH=/usr/local/lib/node_modules" in image.attrs["Config"]["Env"]
    # Nothing of the build's host stays in the image: no CA copy, caches or setuid programs.
    look = (
        "find /tmp /var/tmp /root/.npm /root/.cache /var/lib/apt/lists -mindepth 1 -not -name lock"
    )
    left = docker_client.containers.run(
        digest,
        ["sh", "-c", f"{look} 2>/dev/null; find / -xdev -type f -perm /6000; true"],
        user="0",
        network_disabled=True,
        remove=True,
    )
    assert left.decode().split() in ([], ["/var/lib/apt/lists/partial"]), left

    script = (
        "import idna, subprocess, urllib.request\n"
        "print('idna', idna.__version__, idna.__file__)\n"
        "print(subprocess.run(['node', '-e', \"console.log('is-number', "
        "require('is-number')(5))\"], capture_output=True, text=True, check=True).stdout)\n"
        "try:\n"
        "    urllib.request.urlopen('https://pypi.org', timeout=5)\n"
        "    print('NETWORK')\n"
        "except OSError:\n"
        "    print('offline')\n"
    )
    run = runs.submit({"check.py": script}, ["python3", "check.py"], template="py-extras")
    ended = runs.wait(run["id"], timeout=120)
    out = runs.output(run["id"])
    assert ended["status"] == "succeeded", out + runs.output(run["id"], "stderr")
    assert ended["imageDigest"] == digest
    assert "idna 3." in out and "/opt/crownest/venv/" in out, out
    assert "is-number true" in out and "offline" in out
    assert "NETWORK" not in out
    evidence = runs.wait_evidence(run["id"])
    assert evidence["template"]["name"] == "py-extras"
    assert evidence["template"]["imageDigest"] == digest

    # python-node itself is unchanged: idna is only in the new template.
    plain = runs.submit({"a.py": "import importlib.util as u; print(u.find_spec('idna'))"},
                        ["python3", "a.py"])  # fmt: skip
    assert runs.wait(plain["id"])["status"] == "succeeded"
    assert runs.output(plain["id"]).strip() == "None"
    runs.wait(run["id"], until=lambda r: r["sandbox"]["removedAt"])
    node_project_twice(runs, "py-extras")
    docker_client.images.remove(digest, force=True)


def node_project_twice(runs: Runs, template: str) -> None:
    """A Node project whose dev dependency the template carries: its archive holds no
    node_modules. Run twice: the second run sends no archive bytes (the stored one is reused)."""
    project = make_targz(
        {
            "package.json": '{"name": "p", "version": "1.0.0", "private": true, '
            '"scripts": {"test": "node test.js"}, "devDependencies": {"is-number": "^7.0.0"}}',
            "test.js": "const isNumber = require('is-number');\n"
            "if (!isNumber(3) || isNumber('x')) process.exit(1);\nconsole.log('tests pass');\n",
        }
    )
    env = {"NPM_CONFIG_UPDATE_NOTIFIER": "false"}
    first = runs.create(project, "npm test", template=template, env=env)
    assert runs.upload(first["id"], project).status_code == 200
    second = runs.create(project, "npm test", template=template, env=env, reuseArchive=True)
    # ready at once, nothing uploaded: the only bytes sent for it were the create request's
    assert second["status"] == "ready" and second["archive"]["uploadMethod"] == "reused"
    for run in (first, second):
        assert runs.start(run["id"]).status_code == 202
        ended = runs.wait(run["id"], timeout=120)
        assert ended["status"] == "succeeded", runs.output(run["id"], "stderr")
        assert "tests pass" in runs.output(run["id"])
    assert runs.get(second["id"])["archive"]["sha256"] == first["archive"]["sha256"]


def test_a_package_that_does_not_exist_fails_the_build_with_the_reason(
    staff, staff_user, client, api, worker
):
    resp = staff.post(
        "/api/v1/templates",
        {"name": "no-such", "basedOn": "python-node", "pipPackages": ["crownest-no-such-pkg-x9"]},
        format="json",
    )
    assert resp.status_code == 201, resp.content
    built = wait_built(staff, "no-such")
    assert built["status"] == "failed"
    assert (
        built["versions"][0]["status"] == "failed" and built["versions"][0]["imageDigest"] is None
    )
    assert "pip install failed" in built["error"]
    assert "crownest-no-such-pkg-x9" in built["buildLog"] and "FAILED" in built["buildLog"]
    client.force_login(staff_user)
    page = client.get("/templates/no-such")
    assert page.status_code == 200 and b"pip install failed" in page.content

    body = {"template": "no-such", "command": "true", "archive": archive_meta(DATA)}
    new = api.post("/api/v1/workspace-runs", body, format="json")
    assert new.status_code == 409 and error_of(new)["code"] == "invalid_state"
    assert "failed to build" in error_of(new)["message"]


def base_version(name: str) -> TemplateVersion:
    """A version based on python-node's image, built here in the test's process."""
    image = settings.CROWNEST_TEMPLATES["python-node"]["image"]
    template = Template.objects.create(name=name)
    recipe = {"basedOnImage": image, "debianPackages": [], "pipPackages": [], "npmPackages": []}
    return TemplateVersion.objects.create(template=template, number=1, recipe=recipe)


@pytest.mark.django_db
def test_a_build_over_the_image_size_limit_fails_before_the_import(settings):
    settings.CROWNEST_TEMPLATE_MAX_IMAGE_BYTES = 50 * 2**20
    version = base_version("too-big")
    template_build(version_id=version.pk)
    version.refresh_from_db()
    assert version.status == "failed" and version.image_digest == ""
    assert "over the limit of 52428800 bytes" in version.error
    assert "[3/3] import" not in version.build_log and "FAILED" in version.build_log


@pytest.mark.django_db
def test_a_build_past_its_time_limit_fails(settings):
    settings.CROWNEST_TEMPLATE_BUILD_TIMEOUT = 1  # the base image alone takes longer to unpack
    version = base_version("too-slow")
    template_build(version_id=version.pk)
    version.refresh_from_db()
    assert version.status == "failed"
    assert version.error == "the build took longer than the limit of 1 s"
    assert version.progress["phase"] in ("rootfs", "finish")
