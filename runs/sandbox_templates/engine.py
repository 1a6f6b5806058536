"""Template versions on a worker's Docker engine: the image a run on a version uses (exactly its
digest), and, when a worker starts, the digests of the images built outside the workers
(images/NAME/build.sh). Worker code: the sandbox is handed in, never imported here."""

import logging

from django.db import transaction
from django.utils import timezone

from ..worker.sandbox.base import ImageInfo, SandboxError
from .models import Template, TemplateVersion
from .registry import version_pull
from .versions import next_number, template_mirror

log = logging.getLogger(__name__)


def version_image(sandbox, version: TemplateVersion, pull=None) -> tuple[str, ImageInfo]:
    """The image a run on `version` uses: exactly the pinned digest, pulled from the registry
    when this host lacks it (`pull`: registry.RunPull, the run's view of that). A version built
    outside the workers (images/) has none until a worker first sees its image; recorded then."""
    if version.image_digest:
        if not sandbox.image_id(version.image_digest):
            _pull(sandbox, version, pull)
        return version.image_digest, sandbox.describe_image(version.image_digest)
    info = sandbox.describe_image(version.image)
    TemplateVersion.objects.filter(pk=version.pk, image_digest="").update(
        image_digest=info.digest, python=info.python, node=info.node
    )
    version.refresh_from_db()
    template_mirror(version.template)
    if version.image_digest != info.digest:  # recorded meanwhile from another image
        return version_image(sandbox, version)
    return info.digest, info


def _pull(sandbox, version: TemplateVersion, pull) -> None:
    if pull is not None:
        pull.begin()
    version_pull(sandbox, version, pull)
    if pull is not None:
        pull.end()


def outside_images() -> dict[str, TemplateVersion]:
    """Each image reference built outside the workers, with its newest version not retired."""
    found: dict[str, TemplateVersion] = {}
    versions = TemplateVersion.objects.exclude(source="worker").exclude(image="")
    for version in versions.filter(retired_at__isnull=True).order_by("-number"):
        found.setdefault(version.image, version)
    return found


def images_record(sandbox) -> None:
    """At worker start: the digest of each image built outside the workers, as this engine has
    it. An image rebuilt under the same reference (build.sh --force) is another version."""
    for image, version in outside_images().items():
        try:
            info = sandbox.describe_image(image)
        except SandboxError as exc:
            log.error("template %s image %s unavailable: %s", version.template_id, image, exc)
            continue
        _record(version, info)


def _record(version: TemplateVersion, info: ImageInfo) -> None:
    if version.image_digest and version.image_digest != info.digest:
        with transaction.atomic():
            template = Template.objects.select_for_update().get(pk=version.template_id)
            if template.versions.filter(image_digest=info.digest).exists():
                return
            version = TemplateVersion.objects.create(
                template=template,
                number=next_number(template),
                recipe=version.recipe,
                status=TemplateVersion.Status.READY,
                image=info.image,
                source=version.source,
                build_log=version.build_log,
                finished_at=timezone.now(),
            )
    TemplateVersion.objects.filter(pk=version.pk, image_digest="").update(
        image_digest=info.digest, python=info.python, node=info.node
    )
    template_mirror(version.template)
