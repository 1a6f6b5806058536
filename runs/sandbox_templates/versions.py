"""What every writer of versions shares (services, the builder, the worker's image records, the
seed): numbering, the recipe a version is built from, and the template row's copy of the current
ready version's image facts."""

from django.db.models import Max

from .models import Template, TemplateVersion
from .selectors import template_current

V = TemplateVersion.Status


def next_number(template: Template) -> int:
    return (template.versions.aggregate(n=Max("number"))["n"] or 0) + 1


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
        "egressAllow": list(template.egress_allow),
    }


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
