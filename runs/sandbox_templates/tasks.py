"""The template build task. Sent by the web process, so the builder (chroot, docker import) is
imported only when a worker runs the task: the web process never loads the sandbox."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def build_template(version_id: int) -> None:
    from .build import template_build

    template_build(version_id=version_id)
