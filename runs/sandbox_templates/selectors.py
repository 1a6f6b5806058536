"""Templates as data (docs/templates.md): staff define a recipe; each change makes a new
TemplateVersion that a worker builds. A run pins the version it was made with.

The templates named in settings.CROWNEST_TEMPLATES (python-node) are recipes too; their first
version is the image a script under images/ built, recorded here the first time it is needed."""

from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from .errors import InvalidRequest, TemplateNotReady
from .models import Template, TemplateVersion

V = TemplateVersion.Status
RECIPE_FIELDS = ("description", "based_on", "debian_packages", "pip_packages", "npm_packages")


def packages_file(path) -> list[str]:
    """The words of a packages.txt ('#' starts a comment)."""
    if not path or not Path(path).is_file():
        return []
    words = []
    for line in Path(path).read_text().splitlines():
        words.extend(line.split("#", 1)[0].split())
    return words


def recipe_of(template: Template, base: TemplateVersion | None = None) -> dict:
    return {
        "description": template.description,
        "basedOn": template.based_on_id,
        # The exact image the build starts from (the base's digest, or its image reference
        # while a worker has not yet recorded the digest of an image built under images/).
        "basedOnImage": (base.image_digest or base.image) if base else None,
        "debianPackages": list(template.debian_packages),
        "pipPackages": list(template.pip_packages),
        "npmPackages": list(template.npm_packages),
    }


def template_current(template: Template) -> TemplateVersion | None:
    """The newest version that is not retired: what new runs get when it is ready."""
    return template.versions.filter(retired_at__isnull=True).order_by("-number").first()


def template_status(template: Template, current: TemplateVersion | None = None) -> str:
    current = current if current is not None else template_current(template)
    if current is not None:
        return current.status
    return "retired" if template.versions.exists() else V.BUILDING


def next_number(template: Template) -> int:
    return (template.versions.aggregate(n=Max("number"))["n"] or 0) + 1


def template_ensure_builtin(name: str) -> Template | None:
    """The Template row of a settings template, with a version for its configured image."""
    conf = settings.CROWNEST_TEMPLATES.get(name)
    if conf is None:
        return None
    if TemplateVersion.objects.filter(template_id=name, image=conf["image"]).exists():
        return Template.objects.get(pk=name)
    try:
        with transaction.atomic():
            template, _ = Template.objects.get_or_create(
                name=name,
                defaults={
                    "description": conf.get("description", ""),
                    "debian_packages": packages_file(
                        settings.CROWNEST_IMAGES_DIR / name / "packages.txt"
                    ),
                },
            )
            template = Template.objects.select_for_update().get(pk=name)
            if not template.versions.filter(image=conf["image"]).exists():
                TemplateVersion.objects.create(
                    template=template,
                    number=next_number(template),
                    recipe=recipe_of(template),
                    status=V.READY,
                    image=conf["image"],
                    source=f"images/{name}/build.sh",
                    build_log=f"Built outside the workers by images/{name}/build.sh.\n",
                    finished_at=timezone.now(),
                )
    except IntegrityError:  # made at the same moment by another process
        pass
    return Template.objects.get(pk=name)


def template_get(name: str) -> Template | None:
    template_ensure_builtin(name)
    return Template.objects.filter(pk=name).first()


def template_all() -> list[Template]:
    for name in settings.CROWNEST_TEMPLATES:
        template_ensure_builtin(name)
    return list(Template.objects.select_related("based_on").order_by("name"))


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
        raise InvalidRequest.field(
            "template", "is not a known template", f"Unknown template {name!r}."
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


def template_mirror(template: Template) -> None:
    """Copy the current ready version's image facts onto the template row (the list API's)."""
    current = template_current(template)
    ready = current if current is not None and current.status == V.READY else None
    Template.objects.filter(pk=template.pk).update(
        image=ready.image if ready else "",
        image_digest=ready.image_digest if ready else "",
        python=ready.python if ready else "",
        node=ready.node if ready else "",
    )
