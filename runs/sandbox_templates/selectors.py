"""Reading templates (docs/templates.md). The Template table is the only source: the templates
that settings define (python-node) are rows like any other, seeded by a migration and by
`manage.py seed_templates` (make setup), never by a read. Nothing here writes."""

from ..errors import NotFound, TemplateNotReady
from ..ids import id_ok
from .models import Template, TemplateVersion

V = TemplateVersion.Status


def template_get(name: str) -> Template | None:
    if not id_ok(name):
        return None
    return Template.objects.select_related("based_on").filter(pk=name).first()


def template_all() -> list[Template]:
    return list(Template.objects.select_related("based_on").order_by("name"))


def template_current(template: Template) -> TemplateVersion | None:
    """The newest version that is not retired: what new runs get when it is ready."""
    return template.versions.filter(retired_at__isnull=True).order_by("-number").first()


def template_status(template: Template, current: TemplateVersion | None = None) -> str:
    current = current if current is not None else template_current(template)
    if current is not None:
        return current.status
    return "retired" if template.versions.exists() else V.BUILDING


def not_ready(template: Template, status: str) -> TemplateNotReady:
    why = {
        V.BUILDING: "its newest version is still being built; try again when it is ready",
        V.FAILED: "its newest version failed to build; see its build log, fix the recipe "
        "(PATCH) or retire the failed version",
        "retired": "every version of it is retired",
    }.get(status, f"it is {status}")
    return TemplateNotReady(
        f"Template {template.name!r} cannot take new runs: {why} "
        f"(GET /api/v1/templates/{template.name}).",
        {"template": template.name, "status": status},
    )


def template_version_for_run(name: str) -> TemplateVersion:
    """The version a new run pins: the template's current one, which must be ready."""
    template = template_get(name)
    if template is None:
        raise NotFound(
            "template",
            f"No template named {name!r}; GET /api/v1/templates lists them.",
            {"template": name},
        )
    current = template_current(template)
    status = template_status(template, current)
    if status != V.READY:
        raise not_ready(template, status)
    return current


def version_for_rerun(run) -> TemplateVersion:
    """A rerun runs on the original's version while that is not retired."""
    version = run.template_version
    if version is None:
        return template_version_for_run(run.template)
    if version.retired_at is not None:
        raise TemplateNotReady(
            f"The version of template {run.template!r} that run {run.id} ran on "
            f"({version.image_digest or 'v' + str(version.number)}) is retired; start a new "
            "run to use the template's current version.",
            {"template": run.template, "status": "retired", "imageDigest": version.image_digest},
        )
    return version


def warm_images() -> list[str]:
    """What the warm pool keeps started: the image (its digest, or its reference while no worker
    has recorded the digest) of the current version of each template marked warm, when ready."""
    images = []
    for template in Template.objects.filter(warm=True).order_by("name"):
        current = template_current(template)
        if current is not None and current.status == V.READY:
            images.append(current.image_digest or current.image)
    return list(dict.fromkeys(i for i in images if i))
