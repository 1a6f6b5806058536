"""The limits a run got, as recorded on the run (its `limits`, the evidence's and the page's)."""

from django.conf import settings

from ..models import Run


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
