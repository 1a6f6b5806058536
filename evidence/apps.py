from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    name = "evidence"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # evidence depends on runs, never the reverse: the run-ended path (runs/ending.py)
        # sends a signal, and the bundle is written by this receiver.
        from runs.ending import run_ended

        from .services import on_run_ended

        run_ended.connect(on_run_ended, dispatch_uid="evidence.bundle")
        # ... and the run's API knows evidence only through what this app adds to it.
        from runs.http.public import error_add, run_link_add

        from .errors import EvidenceNotReady

        error_add(
            EvidenceNotReady,
            status=409,
            code="evidence_not_ready",
            when="the run has not ended, or its evidence is still being written",
        )
        run_link_add("evidence", "run-evidence")
