"""What ops hears from the rest of CrowNest through signals, so that their code needs no call:
runs created, Evidence Bundles written (and the endings whose bundle could not be signed),
admin changes and reviews made inside an audited request, and signing in and out."""

from django.contrib.admin.models import LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.core.signals import request_finished
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from evidence.models import Attestation, EvidenceBundle, Review
from runs.ending import run_ended
from runs.models import Run

from . import logs, metrics
from .audit import audit_record, note, note_object


@receiver(post_save, sender=Run, dispatch_uid="ops.run_created")
def run_created(sender, instance, created, raw=False, **_):
    if created and not raw:
        metrics.run_created(instance.template)


@receiver(post_save, sender=EvidenceBundle, dispatch_uid="ops.evidence_written")
def evidence_written(sender, instance, created, raw=False, **_):
    if not created or raw or not metrics.on():
        return
    signed = "true" if "attestation" in instance.data else "false"
    finished = instance.run.finished_at
    latency = (instance.created_at - finished).total_seconds() if finished else None

    def count():
        metrics.evidence_written.labels(signed).inc()
        if latency is not None:
            metrics.evidence_latency.observe(max(latency, 0))

    transaction.on_commit(count)


def signing_failed(sender, *, run_id: str, **_) -> None:
    """After the evidence receiver (connected later, so called later): an ending whose bundle
    has no signed attestation now failed to sign (no key on this host, or signing raised)."""
    if metrics.on() and not Attestation.objects.filter(bundle__run_id=run_id).exists():
        metrics.signing_failures.inc()


run_ended.connect(signing_failed, dispatch_uid="ops.signing_failed")


@receiver(post_save, sender=LogEntry, dispatch_uid="ops.admin_change")
def admin_change(sender, instance, created, **_):
    if created and instance.object_id:
        note_object(instance.object_id)


@receiver(post_save, sender=Review, dispatch_uid="ops.review")
def review_made(sender, instance, created, **_):
    if created:
        note(verdict=instance.verdict, reviewId=instance.pk)


@receiver(user_logged_in, dispatch_uid="ops.signed_in")
def signed_in(sender, request, user, **_):
    audit_record(
        action="auth.signin", object_type="user", object_id=user.pk, request=request, user=user
    )


@receiver(user_login_failed, dispatch_uid="ops.signin_failed")
def signin_failed(sender, credentials, request=None, **_):
    # The name tried is kept in the details, never as the actor: nobody was signed in.
    username = str(credentials.get("username", ""))[:150]
    audit_record(
        action="auth.signin",
        outcome="failed",
        request=request,
        details={"username": username},
        actor="",
        actor_id=None,
        staff=False,
    )


@receiver(user_logged_out, dispatch_uid="ops.signed_out")
def signed_out(sender, request, user, **_):
    if user is not None:
        audit_record(
            action="auth.signout", object_type="user", object_id=user.pk, request=request, user=user
        )


@receiver(request_finished, dispatch_uid="ops.request_done")
def request_done(**_):
    """A request's names stay on its own log lines (Django's 4xx/5xx line comes after the
    middleware), not on what the same thread logs next."""
    logs.request_id.set("")
    logs.run_id.set("")
