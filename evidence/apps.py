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
