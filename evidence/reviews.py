"""Reviews of Evidence Bundles: who may review, the queue of what awaits review, recording one."""

from django.db.models import Exists, OuterRef

from runs import roles
from runs.ids import iso
from runs.models import Run

from .attestation import envelope_digest
from .models import Review
from .services import attestation_for, evidence_for


def can_review(user, run: Run) -> bool:
    """The REVIEW row of the one table of who may do what to a run (runs/roles.py)."""
    return roles.run_may(user, run, roles.Action.REVIEW)


def is_reviewer(user) -> bool:
    return roles.may_review_anything(user)


def review_queue(user):
    """Ended runs of the user's led teams (every team for staff) with evidence and no review,
    less the user's own runs (nobody reviews those)."""
    qs = roles.reviewable_runs(user).filter(status__in=Run.TERMINAL, evidence__isnull=False)
    has_review = Review.objects.filter(run=OuterRef("pk"))
    return qs.filter(~Exists(has_review)).order_by("-finished_at", "-id")


def run_reviews(run: Run):
    return Review.objects.filter(run=run).select_related(
        "reviewer", "evidence", "evidence__attestation"
    )


def review_require(*, run: Run, reviewer) -> None:
    """Checked before the review body is looked at: a non-lead learns nothing about its rules."""
    roles.run_require(user=reviewer, run=run, action=roles.Action.REVIEW)


def review_create(*, run: Run, reviewer, verdict: str, comment: str = "") -> Review:
    """verdict and comment arrive validated (ReviewIn); the permission is checked again here."""
    review_require(run=run, reviewer=reviewer)
    bundle = evidence_for(run=run)
    signed = attestation_for(run=run)
    return Review.objects.create(
        run=run,
        evidence=bundle,
        reviewer=reviewer,
        verdict=verdict,
        comment=comment,
        evidence_sha256=bundle.sha256,
        # Of the stored bytes themselves: what the lead judged is what anyone can verify.
        attestation_sha256=envelope_digest(signed.envelope),
    )


def review_void(review: Review) -> bool:
    """A review stands only for the attestation it judged: if the stored one now differs (or
    is gone), the review is void."""
    signed = getattr(review.evidence, "attestation", None)
    if signed is None or not review.attestation_sha256:
        return True
    return envelope_digest(signed.envelope) != review.attestation_sha256


def review_json(review: Review) -> dict:
    return {
        "id": review.id,
        "runId": review.run_id,
        "reviewer": review.reviewer.get_username(),
        "verdict": review.verdict,
        "comment": review.comment,
        "evidenceSha256": review.evidence_sha256,
        "attestationSha256": review.attestation_sha256 or None,
        "void": review_void(review),
        "createdAt": iso(review.created_at),
    }
