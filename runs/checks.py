"""System checks for settings that only fail under load or across hosts."""

from django.conf import settings
from django.core.checks import Error, register

# Extraction, artifact collection and the ending come on top of the command's own timeout.
RUN_MARGIN_SECONDS = 600


@register()
def visibility_timeout_check(app_configs, **kwargs):
    """Redis gives an unacknowledged task to another worker after the visibility timeout: it
    must outlast the longest allowed run, or a running run is delivered twice."""
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    visibility = options.get("visibility_timeout", 3600)
    needed = settings.CROWNEST_MAX_TIMEOUT + RUN_MARGIN_SECONDS
    if visibility < needed:
        return [
            Error(
                f"CROWNEST_VISIBILITY_TIMEOUT ({visibility} s) is below the longest allowed "
                f"run (CROWNEST_MAX_TIMEOUT {settings.CROWNEST_MAX_TIMEOUT} s + "
                f"{RUN_MARGIN_SECONDS} s)",
                hint="Raise CROWNEST_VISIBILITY_TIMEOUT or lower CROWNEST_MAX_TIMEOUT.",
                id="crownest.E001",
            )
        ]
    return []
