"""What a worker records about template images (the digest a run pins), and a run's limits."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import Run, Template, TemplateVersion
from ..template_services import next_number, template_ensure_builtin, template_mirror
from .sandbox import SandboxError
from .sandbox.base import ImageInfo


def version_image(sandbox, version: TemplateVersion) -> tuple[str, ImageInfo]:
    """The image a run on `version` uses: exactly the pinned digest. A version built outside the
    workers (images/) has none until a worker first sees its image; it is recorded then."""
    if version.image_digest:
        try:
            return version.image_digest, sandbox.describe_image(version.image_digest)
        except SandboxError as exc:
            raise SandboxError(
                f"template {version.template_id} version {version.number} "
                f"({version.image_digest}) is not on this worker's Docker engine"
            ) from exc
    info = sandbox.describe_image(version.image)
    TemplateVersion.objects.filter(pk=version.pk, image_digest="").update(
        image_digest=info.digest, python=info.python, node=info.node
    )
    version.refresh_from_db()
    template_mirror(version.template)
    if version.image_digest != info.digest:  # recorded meanwhile from another image
        return version_image(sandbox, version)
    return info.digest, info


def builtin_record(name: str, info: ImageInfo) -> None:
    """At worker start: the settings template's version for this image, with its digest. An image
    rebuilt under the same reference (build.sh --force) is another version."""
    template = template_ensure_builtin(name)
    version = template.versions.filter(image=info.image).order_by("-number").first()
    if version.image_digest and version.image_digest != info.digest:
        with transaction.atomic():
            template = Template.objects.select_for_update().get(pk=name)
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
    template_mirror(template)


def limits_record(run: Run, limits) -> dict:
    return {
        "timeoutSeconds": run.timeout_seconds,
        "memory": limits.memory,
        "cpus": limits.cpus,
        "pids": limits.pids,
        "tmpSize": limits.tmp_size,
        "disk": limits.disk or None,
        "runtime": limits.runtime or "runc",
        "network": limits.network,
        "outputLimitBytes": settings.CROWNEST_OUTPUT_LIMIT,
        "artifactMaxBytes": settings.CROWNEST_ARTIFACT_MAX_BYTES,
        "artifactMaxTotalBytes": settings.CROWNEST_ARTIFACT_MAX_TOTAL,
        "artifactMaxFiles": settings.CROWNEST_ARTIFACT_MAX_FILES,
    }
