"""Templates as data without Docker (docs/templates.md): who may define them, what a recipe may
name (no injection through a package name), versions, the version a run pins, retiring, and
what a template that is not ready answers. Real builds: test_template_build.py."""

import io

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from runs.models import Run, Template, TemplateVersion
from runs.sandbox_templates.seed import templates_seed
from runs.sandbox_templates.selectors import warm_images

from .helpers import archive_meta, client_for, error_of, make_targz

pytestmark = pytest.mark.django_db

DATA = make_targz({"a.py": "print(1)\n"})
INJECTIONS = ["x; touch /tmp/pwned", "--index-url=http://evil", "$(id)", "file:../x"]


@pytest.fixture
def staff(django_user_model):
    return client_for(django_user_model.objects.create_user("root", is_staff=True))


def create(api, **recipe):
    body = {"name": "extras", "basedOn": "python-node", **recipe}
    return api.post("/api/v1/templates", body, format="json")


def new_run(api, template="python-node"):
    body = {"template": template, "command": "true", "archive": archive_meta(DATA)}
    return api.post("/api/v1/workspace-runs", body, format="json")


def ready(version: TemplateVersion, digest="sha256:" + "e" * 64):
    TemplateVersion.objects.filter(pk=version.pk).update(
        status="ready", image=f"crownest/tpl-{version.template_id}:v1", image_digest=digest
    )


def test_python_node_is_a_template_with_its_recipe_and_a_ready_first_version(api):
    body = api.get("/api/v1/templates/python-node").json()
    assert body["status"] == "ready" and body["basedOn"] is None
    assert {"python3", "nodejs", "npm", "git"} <= set(body["debianPackages"])
    [first] = body["versions"]
    assert first["status"] == "ready" and first["source"] == "images/python-node/build.sh"
    assert first["image"].startswith("crownest/python-node:")


def test_staff_define_a_template_and_its_first_version_is_building(staff):
    resp = create(staff, description="with idna", pipPackages=["idna"], npmPackages=["is-number"])
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["name"] == "extras" and body["status"] == "building"
    assert body["pipPackages"] == ["idna"] and body["npmPackages"] == ["is-number"]
    [v] = body["versions"]
    assert v["number"] == 1 and v["status"] == "building" and v["imageDigest"] is None
    version = TemplateVersion.objects.get(template_id="extras")
    base = TemplateVersion.objects.get(template_id="python-node")
    assert version.recipe["basedOnImage"] in (base.image_digest, base.image)


@pytest.mark.parametrize("method", ["post", "patch", "retire"])
def test_others_may_read_templates_but_not_change_them(api, staff, method):
    assert create(staff).status_code == 201
    if method == "post":
        resp = create(api, name="mine")
    elif method == "patch":
        resp = api.patch("/api/v1/templates/extras", {"pipPackages": ["six"]}, format="json")
    else:
        resp = api.post("/api/v1/templates/extras/retire", {"imageDigest": "x"}, format="json")
    assert resp.status_code == 403 and error_of(resp)["code"] == "forbidden"
    assert api.get("/api/v1/templates/extras").status_code == 200
    assert not Template.objects.filter(name="mine").exists()
    assert TemplateVersion.objects.filter(template_id="extras").count() == 1


@pytest.mark.parametrize("field", ["debianPackages", "pipPackages", "npmPackages"])
@pytest.mark.parametrize("bad", INJECTIONS)
def test_package_names_that_are_not_names_are_refused(staff, field, bad):
    resp = create(staff, **{field: ["jq" if field == "debianPackages" else "six", bad]})
    assert resp.status_code == 400, resp.content
    error = error_of(resp)
    assert error["code"] == "invalid_request"
    assert field in error["details"]["fields"] or f"{field}[1]" in error["details"]["fields"]
    assert not Template.objects.filter(name="extras").exists()


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Bad Name"},
        {"name": "x" * 41},
        {"pipPackages": "six"},
        {"pipPackages": ["six", "six"]},
        {"npmPackages": ["git+https://example.com/x.git"]},
        {"pipPackages": ["x @ https://example.com/x.whl"]},
        {"debianPackages": ["-o=APT::x"]},
        {"pip_packages": ["six"]},
        {"basedOn": "no-such-template"},
        {"pipPackages": [f"p{i}" for i in range(51)]},
    ],
)
def test_bad_recipes_are_400(staff, body):
    resp = create(staff, **body)
    assert resp.status_code == 400, resp.content
    assert error_of(resp)["code"] == "invalid_request"


def test_good_names_and_versions_pass(staff):
    resp = create(
        staff,
        debianPackages=["jq", "curl=7.88.1-10+deb12u5", "g++-12", "g++=4:12.2.0-3"],
        pipPackages=["idna>=3,<4", "requests[socks]==2.31.0", "Django~=5.2"],
        npmPackages=["is-number@7", "@types/node@^20.1.0", "left-pad"],
    )
    assert resp.status_code == 201, resp.content


def test_the_name_is_taken_once(staff):
    assert create(staff).status_code == 201
    assert create(staff).status_code == 400
    assert create(staff, name="python-node").status_code == 400


def test_a_template_that_is_not_ready_refuses_new_runs(api, staff):
    assert create(staff).status_code == 201
    resp = new_run(api, "extras")
    assert resp.status_code == 409
    error = error_of(resp)
    assert error["code"] == "invalid_state" and error["details"]["status"] == "building"
    TemplateVersion.objects.filter(template_id="extras").update(status="failed", error="boom")
    resp = new_run(api, "extras")
    assert resp.status_code == 409 and error_of(resp)["details"]["status"] == "failed"
    assert api.get("/api/v1/templates/extras").json()["error"] == "boom"
    assert new_run(api, "no-such").status_code == 400


def test_a_run_pins_the_current_version_and_a_change_makes_a_new_one(api, staff):
    assert create(staff, pipPackages=["idna"]).status_code == 201
    first = TemplateVersion.objects.get(template_id="extras")
    ready(first)
    run = new_run(api, "extras")
    assert run.status_code == 201, run.content
    assert Run.objects.get(pk=run.json()["id"]).template_version == first
    assert run.json()["imageDigest"] == "sha256:" + "e" * 64

    resp = staff.patch("/api/v1/templates/extras", {"npmPackages": ["is-number"]}, format="json")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert [v["status"] for v in body["versions"]] == ["building", "ready"]
    assert body["status"] == "building" and body["pipPackages"] == ["idna"]
    assert new_run(api, "extras").status_code == 409  # the newest version is not built yet
    # The earlier run's rerun keeps its version while it is not retired.
    rerun = api.post(f"/api/v1/workspace-runs/{run.json()['id']}/rerun")
    assert rerun.status_code == 201, rerun.content
    assert Run.objects.get(pk=rerun.json()["id"]).template_version == first
    assert rerun.json()["imageDigest"] == "sha256:" + "e" * 64


def test_a_retired_version_refuses_reruns_and_the_previous_one_becomes_current(api, staff):
    assert create(staff).status_code == 201
    first = TemplateVersion.objects.get(template_id="extras")
    ready(first, "sha256:" + "1" * 64)
    run = new_run(api, "extras").json()
    staff.patch("/api/v1/templates/extras", {"description": "v2"}, format="json")
    second = TemplateVersion.objects.get(template_id="extras", number=2)
    ready(second, "sha256:" + "2" * 64)
    assert Run.objects.get(pk=new_run(api, "extras").json()["id"]).template_version == second

    retire = {"imageDigest": "sha256:" + "1" * 64}
    resp = staff.post("/api/v1/templates/extras/retire", retire, format="json")
    assert resp.status_code == 200, resp.content
    assert [v["status"] for v in resp.json()["versions"]] == ["ready", "retired"]
    rerun = api.post(f"/api/v1/workspace-runs/{run['id']}/rerun")
    assert rerun.status_code == 409 and error_of(rerun)["code"] == "invalid_state"
    assert "retired" in error_of(rerun)["message"]

    # Retiring the newest one too: v1 stays retired, so nothing can take runs.
    retire = {"imageDigest": "sha256:" + "2" * 64}
    assert staff.post("/api/v1/templates/extras/retire", retire, format="json").status_code == 200
    assert api.get("/api/v1/templates/extras").json()["status"] == "retired"
    assert new_run(api, "extras").status_code == 409
    bad = staff.post("/api/v1/templates/extras/retire", {"imageDigest": "nope"}, format="json")
    assert bad.status_code == 400


def test_a_template_cannot_be_based_on_itself_through_another(staff):
    assert create(staff).status_code == 201
    ready(TemplateVersion.objects.get(template_id="extras"))
    assert create(staff, name="more", basedOn="extras").status_code == 201
    ready(TemplateVersion.objects.get(template_id="more"), "sha256:" + "f" * 64)
    resp = staff.patch("/api/v1/templates/extras", {"basedOn": "more"}, format="json")
    assert resp.status_code == 400 and "basedOn" in error_of(resp)["details"]["fields"]


def test_a_base_that_is_not_ready_is_refused(staff):
    assert create(staff).status_code == 201  # building
    resp = create(staff, name="more", basedOn="extras")
    assert resp.status_code == 409 and error_of(resp)["details"]["status"] == "building"


def test_the_template_pages_show_the_build(client, user, staff):
    assert create(staff, pipPackages=["idna"]).status_code == 201
    TemplateVersion.objects.filter(template_id="extras").update(
        build_log="==> [2/4] pip\nCollecting idna\n",
        progress={"phase": "pip", "step": 2, "steps": 4, "percent": 25},
        started_at=timezone.now(),
    )
    client.force_login(user)
    listing = client.get("/templates")
    assert listing.status_code == 200 and b'href="/templates/extras"' in listing.content
    page = client.get("/templates/extras")
    assert page.status_code == 200
    assert b"Collecting idna" in page.content and b"step 2 of 4: pip" in page.content
    assert b'value="25"' in page.content
    panel = client.get("/templates/extras/panel")
    assert b'data-status="building"' in panel.content
    assert client.get("/templates/nope").status_code == 404


def test_the_admin_defines_a_template_through_the_same_checks(client, django_user_model):
    django_user_model.objects.create_superuser("admin", "a@example.com", "pw")
    client.login(username="admin", password="pw")
    form = {
        "name": "adm",
        "description": "from the admin",
        "based_on": "python-node",
        "debian_packages": "",
        "pip_packages": "idna\n$(id)",
        "npm_packages": "",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
    }
    resp = client.post("/admin/runs/template/add/", form)
    assert resp.status_code == 200 and b"is not a PyPI name" in resp.content
    assert not Template.objects.filter(name="adm").exists()
    form["pip_packages"] = "idna"
    resp = client.post("/admin/runs/template/add/", form)
    errors = [line for line in resp.content.decode().splitlines() if "errorlist" in line]
    assert resp.status_code == 302, errors
    version = TemplateVersion.objects.get(template_id="adm")
    assert version.status == "building" and version.recipe["pipPackages"] == ["idna"]


def test_the_admin_retires_a_version_and_new_runs_are_refused(client, api, django_user_model):
    django_user_model.objects.create_superuser("admin", "a@example.com", "pw")
    client.login(username="admin", password="pw")
    assert new_run(api).status_code == 201
    [version] = TemplateVersion.objects.filter(template_id="python-node")
    form = {"action": "retire", "_selected_action": [str(version.pk)]}
    resp = client.post("/admin/runs/templateversion/", form)
    assert resp.status_code == 302
    version.refresh_from_db()
    assert version.retired_at is not None
    resp = new_run(api)
    assert resp.status_code == 409 and error_of(resp)["details"]["status"] == "retired"


def test_builds_that_no_worker_can_still_be_running_are_sent_again(staff, settings):
    from datetime import timedelta

    from runs.sandbox_templates.build import stale_builds

    assert create(staff).status_code == 201
    assert create(staff, name="other").status_code == 201
    old = timezone.now() - timedelta(seconds=settings.CROWNEST_TEMPLATE_BUILD_TIMEOUT + 601)
    TemplateVersion.objects.filter(template_id="extras").update(started_at=old)
    TemplateVersion.objects.filter(template_id="other").update(started_at=timezone.now())
    [lost] = stale_builds()
    assert lost == TemplateVersion.objects.get(template_id="extras").pk
    TemplateVersion.objects.filter(pk=lost).update(status="failed")
    assert stale_builds() == []


def test_reads_never_write_and_the_seed_makes_the_settings_templates(api, client, user):
    """The table is the only source: with no rows, every read finds nothing and makes nothing;
    `manage.py seed_templates` (make setup, and a migration) makes python-node, once."""
    TemplateVersion.objects.all().delete()
    Template.objects.all().delete()
    assert api.get("/api/v1/templates").json() == []
    assert api.get("/api/v1/templates/python-node").status_code == 404
    client.force_login(user)
    assert client.get("/templates/python-node").status_code == 404
    resp = new_run(api)
    assert resp.status_code == 400 and "template" in error_of(resp)["details"]["fields"]
    assert not Template.objects.exists() and not TemplateVersion.objects.exists()

    out = io.StringIO()
    call_command("seed_templates", stdout=out)
    assert out.getvalue().strip() == "added python-node v1"
    body = api.get("/api/v1/templates/python-node").json()
    assert body["status"] == "ready" and body["warm"] is True
    assert body["versions"][0]["image"] == settings.CROWNEST_TEMPLATES["python-node"]["image"]
    call_command("seed_templates", stdout=out)
    assert TemplateVersion.objects.filter(template_id="python-node").count() == 1
    assert new_run(api).status_code == 201


def test_a_rebuilt_settings_image_becomes_a_new_version_when_seeded(api, settings):
    settings.CROWNEST_TEMPLATES = {
        "python-node": {**settings.CROWNEST_TEMPLATES["python-node"], "image": "crownest/x:2"}
    }
    assert templates_seed() == ["python-node v2"]
    run = new_run(api)
    assert run.status_code == 201
    version = Run.objects.get(pk=run.json()["id"]).template_version
    assert (version.number, version.image, version.status) == (2, "crownest/x:2", "ready")


def test_staff_mark_a_template_warm_and_that_builds_nothing(api, staff):
    assert warm_images() == [settings.CROWNEST_TEMPLATES["python-node"]["image"]]
    resp = api.patch("/api/v1/templates/python-node", {"warm": False}, format="json")
    assert resp.status_code == 403
    resp = staff.patch("/api/v1/templates/python-node", {"warm": False}, format="json")
    assert resp.status_code == 200 and resp.json()["warm"] is False
    assert [v["status"] for v in resp.json()["versions"]] == ["ready"]  # no new version
    assert warm_images() == []
    assert create(staff, warm=True).status_code == 201
    assert warm_images() == []  # its version is still building
    ready(TemplateVersion.objects.get(template_id="extras"), "sha256:" + "a" * 64)
    assert warm_images() == ["sha256:" + "a" * 64]
    not_a_bool = staff.patch("/api/v1/templates/extras", {"warm": "yes"}, format="json")
    assert not_a_bool.status_code == 400


@pytest.mark.parametrize("name", ["x" * 65, "python-node\x00", "%00"])
def test_names_that_are_not_names_are_404(api, name):
    assert api.get(f"/api/v1/templates/{name}").status_code == 404
