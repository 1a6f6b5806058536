"""What a worker records about template images and the limits a run gets."""

from django.conf import settings

from ..models import Run, Template


def template_register(name: str, image) -> None:
    Template.objects.update_or_create(
        name=name,
        defaults={
            "image": image.image,
            "image_digest": image.digest,
            "python": image.python,
            "node": image.node,
        },
    )


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
