from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations: metrics, the audit log and log context. It sits above runs and evidence and
    listens to them (signals); they call only ops.metrics, which imports nothing of theirs."""

    name = "ops"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks, receivers, worker  # noqa: F401 (connect receivers, register checks)
