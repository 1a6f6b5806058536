"""What staff change about templates (POST/PATCH/retire, the admin): each recipe change makes a
new version and sends it to a worker to build (build.py). Marking a template warm (or not)
changes what the warm pool keeps started, not the recipe: it builds nothing."""

from django.db import transaction
from django.utils import timezone

from ..errors import InvalidRequest, TemplateNotReady
from .models import Template, TemplateVersion
from .selectors import not_ready, template_current, template_get, template_status
from .tasks import build_template
from .versions import next_number, recipe_of, template_mirror

V = TemplateVersion.Status
RECIPE_FIELDS = (
    "description", "based_on", "debian_packages", "pip_packages", "npm_packages", "egress_allow",
)  # fmt: skip


def _check_base(name: str, base: Template | None) -> TemplateVersion | None:
    if base is None:
        return None
    seen, step = {name}, base
    while step is not None:
        if step.name in seen:
            raise InvalidRequest.field("basedOn", "would make a template its own base")
        seen.add(step.name)
        step = step.based_on
    current = template_current(base)
    if current is None or current.status != V.READY:
        raise not_ready(base, template_status(base, current))
    return current


def _base(value) -> Template | None:
    if not value:
        return None
    base = template_get(value)
    if base is None:
        raise InvalidRequest.field("basedOn", "is not a known template")
    return base


def _new_version(template: Template) -> TemplateVersion:
    base = _check_base(template.name, template.based_on)
    version = TemplateVersion.objects.create(
        template=template,
        number=next_number(template),
        recipe=recipe_of(template, base),
        progress={"phase": "queued", "step": 0, "steps": 0, "percent": 0},
    )
    build_template.delay_on_commit(version.pk)
    return version


def template_create(
    *, name: str, based_on: str | None = None, warm: bool = False, **recipe
) -> Template:
    if Template.objects.filter(pk=name).exists():
        raise InvalidRequest.field(
            "name", "is taken", f"A template named {name!r} exists; PATCH it instead."
        )
    base = _base(based_on)
    with transaction.atomic():
        template = Template.objects.create(name=name, based_on=base, warm=warm, **recipe)
        _new_version(template)
    return template


def template_update(*, template: Template, **changes) -> Template:
    """Any change of the recipe builds a new version; the older ones stay runnable. Once the
    new version is ready, the warm pool replaces its containers of the old one."""
    if "based_on" in changes:
        changes["based_on"] = _base(changes["based_on"])
    with transaction.atomic():
        template = Template.objects.select_for_update().get(pk=template.pk)
        for field, value in changes.items():
            setattr(template, field, value)
        template.save()
        if set(changes) & set(RECIPE_FIELDS):
            _new_version(template)
    return template


def version_retire(
    *, template: Template, image_digest: str = "", number: int | None = None
) -> TemplateVersion:
    """By digest (the API) or by number (the admin: a version whose digest no worker recorded)."""
    found = {"number": number} if number is not None else {"image_digest": image_digest or "-"}
    version = template.versions.filter(**found).first()
    if version is None:
        raise InvalidRequest.field(
            "imageDigest", f"is not the digest of a version of {template.name}"
        )
    if version.status == V.BUILDING:
        raise TemplateNotReady(
            "A version that is still building cannot be retired; wait until it ends.",
            {"template": template.name, "status": version.status},
        )
    TemplateVersion.objects.filter(pk=version.pk, retired_at__isnull=True).update(
        retired_at=timezone.now()
    )
    template_mirror(template)
    version.refresh_from_db()
    return version
