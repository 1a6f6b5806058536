"""What staff change about templates (POST/PATCH/retire): each recipe change makes a new
version and sends it to a worker to build (runs/worker/template_build.py)."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .errors import InvalidRequest, TemplateNotReady
from .models import Template, TemplateVersion
from .tasks import build_template
from .template_services import (
    next_number,
    not_ready,
    recipe_of,
    template_current,
    template_get,
    template_mirror,
    template_status,
)

V = TemplateVersion.Status


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


def template_create(*, name: str, based_on: str | None = None, **recipe) -> Template:
    if name in settings.CROWNEST_TEMPLATES or Template.objects.filter(pk=name).exists():
        raise InvalidRequest.field(
            "name", "is taken", f"A template named {name!r} exists; PATCH it instead."
        )
    base = _base(based_on)
    with transaction.atomic():
        template = Template.objects.create(name=name, based_on=base, **recipe)
        _new_version(template)
    return template


def template_update(*, template: Template, **changes) -> Template:
    """Any change of the recipe builds a new version; the older ones stay runnable."""
    if "based_on" in changes:
        changes["based_on"] = _base(changes["based_on"])
    with transaction.atomic():
        template = Template.objects.select_for_update().get(pk=template.pk)
        for field, value in changes.items():
            setattr(template, field, value)
        template.save()
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
