"""Thin Celery tasks: take ids, call services. acks_late so a dead worker's run is redelivered;
the services make redelivery harmless."""

from celery import shared_task
from celery.signals import worker_ready


@shared_task(acks_late=True, ignore_result=True)
def execute_run(run_id: str) -> None:
    from .execution import run_execute

    run_execute(run_id=run_id)


@shared_task(acks_late=True, ignore_result=True)
def reap() -> dict:
    from .reaper import reap as reap_service

    return reap_service()


@worker_ready.connect
def register_templates(**_):
    """Record each template image's digest and versions so the API can show them."""
    import logging

    from django.conf import settings

    from .execution import register_template
    from .sandbox import SandboxError, get_sandbox

    for name, conf in settings.CROWNEST_TEMPLATES.items():
        try:
            register_template(name, get_sandbox().describe_image(conf["image"]))
        except SandboxError as exc:
            logging.getLogger(__name__).error("template %s unavailable: %s", name, exc)


@shared_task(acks_late=True, ignore_result=True)
def sweep_transfers() -> dict:
    from .transfers import transfer_sweep

    return transfer_sweep()
