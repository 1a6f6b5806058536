"""Templates in the browser: the new-run form offers only ready templates and says what each
holds; a template's page follows its build live until it is ready."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from runs.models import Template, TemplateVersion

from .test_dashboard import no_sideways_scroll, watch_console

pytestmark = [pytest.mark.browser, pytest.mark.docker]


def template(name, status, **recipe):
    t = Template.objects.create(name=name, based_on_id="python-node", **recipe)
    return TemplateVersion.objects.create(
        template=t,
        number=1,
        status=status,
        recipe={},
        image=f"crownest/tpl-{name}:v1" if status == "ready" else "",
        image_digest="sha256:" + "a" * 64 if status == "ready" else "",
        python="3.11.2" if status == "ready" else "",
        node="18.19.0" if status == "ready" else "",
    )


def test_the_picker_and_a_build_followed_live(stack, django_user_model, new_page, shot):
    user = django_user_model.objects.create_user("tess", password="pw-tess")
    page = new_page(user, "pw-tess")
    errors = watch_console(page)
    page.goto("/templates")  # makes python-node's row, so it can be a base
    template("with-idna", "ready", description="Python with idna", pip_packages=["idna"])
    building = template("slow-one", "building", description="not yet", npm_packages=["is-number"])

    page.goto("/runs/new")
    options = page.locator("#template option")
    expect(options).to_have_count(2)
    assert sorted(options.all_inner_texts()) == ["python-node", "with-idna"]
    page.select_option("#template", "with-idna")
    info = page.locator("#template-info")
    expect(info).to_contain_text("Python with idna")
    expect(info).to_contain_text("Python 3.11.2 · Node 18.19.0 · pip: idna")
    expect(info.locator("a")).to_have_attribute("href", "/templates/with-idna")

    TemplateVersion.objects.filter(pk=building.pk).update(
        started_at=timezone.now(),
        build_log="==> [1/4] rootfs\nunpacking the base image\n",
        progress={"phase": "rootfs", "step": 1, "steps": 4, "percent": 0},
    )
    page.goto("/templates/slow-one")
    expect(page.get_by_test_id("template-status")).to_have_text("building")
    expect(page.get_by_test_id("build-progress")).to_contain_text("step 1 of 4: rootfs")
    TemplateVersion.objects.filter(pk=building.pk).update(
        build_log="==> [1/4] rootfs\n==> [3/4] npm\nadded 1 package\n",
        progress={"phase": "npm", "step": 3, "steps": 4, "percent": 50},
    )
    expect(page.get_by_test_id("build-progress")).to_contain_text("step 3 of 4: npm")
    expect(page.get_by_test_id("build-log")).to_contain_text("added 1 package")
    shot(page, "template-building")
    TemplateVersion.objects.filter(pk=building.pk).update(
        status="ready", image_digest="sha256:" + "b" * 64, build_log="... ==> ready in 70 s\n"
    )
    expect(page.get_by_test_id("template-status")).to_have_text("ready")
    expect(page.get_by_test_id("build-log")).to_contain_text("ready in 70 s")
    expect(page.get_by_test_id("build-progress")).to_have_count(0)
    page.set_viewport_size({"width": 390, "height": 844})
    assert no_sideways_scroll(page) <= 0
    assert errors == []
