"""Seeding: the templates that settings define (CROWNEST_TEMPLATES: python-node, whose image
images/python-node/build.sh makes) become Template rows with a ready version for the configured
image. Done by a migration (a fresh database has python-node) and by `manage.py seed_templates`
(make setup, after build.sh: a changed packages.txt or build.sh gives a new image tag, which
becomes a new version). Never done by a read: from then on the table is the only source.

The migration passes its historical models, so this module uses only the models it is given."""

from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone


def packages_file(path) -> list[str]:
    """The words of a packages.txt ('#' starts a comment)."""
    if not path or not Path(path).is_file():
        return []
    words = []
    for line in Path(path).read_text().splitlines():
        words.extend(line.split("#", 1)[0].split())
    return words


def settings_templates() -> list[dict]:
    """What settings say about each template built outside the workers."""
    return [
        {
            "name": name,
            "image": conf["image"],
            "description": conf.get("description", ""),
            "warm": bool(conf.get("warm", False)),
            "debian_packages": packages_file(settings.CROWNEST_IMAGES_DIR / name / "packages.txt"),
        }
        for name, conf in settings.CROWNEST_TEMPLATES.items()
    ]


def templates_seed(template_model=None, version_model=None) -> list[str]:
    """Each settings template's row (made once: staff changes are kept) and a ready version for
    its configured image. Idempotent. Returns "name vN" for each version it added."""
    if template_model is None:
        from .models import Template, TemplateVersion

        template_model, version_model = Template, TemplateVersion
    added = []
    for seed in settings_templates():
        with transaction.atomic():
            added += _seed_one(template_model, version_model, seed)
    return added


def _seed_one(template_model, version_model, seed: dict) -> list[str]:
    name, image = seed["name"], seed["image"]
    template, _ = template_model.objects.get_or_create(
        name=name,
        defaults={
            "description": seed["description"],
            "debian_packages": seed["debian_packages"],
            "warm": seed["warm"],
        },
    )
    template = template_model.objects.select_for_update().get(pk=name)
    if template.versions.filter(image=image).exists():
        return []
    # The image holds exactly packages.txt (build.sh): the recipe says so, and so does the row,
    # whose recipe is the current version's.
    recipe = {
        "description": template.description,
        "basedOn": None,
        "basedOnImage": None,
        "debianPackages": seed["debian_packages"],
        "pipPackages": [],
        "npmPackages": [],
    }
    template.based_on = None
    template.debian_packages, template.pip_packages, template.npm_packages = (
        seed["debian_packages"],
        [],
        [],
    )
    template.image, template.image_digest, template.python, template.node = image, "", "", ""
    template.save()
    number = (template.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version_model.objects.create(
        template=template,
        number=number,
        recipe=recipe,
        status="ready",
        image=image,
        source=f"images/{name}/build.sh",
        build_log=f"Built outside the workers by images/{name}/build.sh.\n",
        finished_at=timezone.now(),
    )
    return [f"{name} v{number}"]
