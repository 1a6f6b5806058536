"""Reviews of Evidence Bundles: who may review, the queue of what awaits review, recording one."""

from django.db.models import Exists, OuterRef

from runs.errors import Forbidden
from runs.ids import iso
from runs.models import Membership, Run

from .attestation import envelope_digest
from .models import Review
from .services import attestation_for, evidence_for


def lead_team_ids(user):
    return Membership.objects.filter(user=user, role=Membership.Role.LEAD).values_list(
        "team_id", flat=True
    )


def can_review(user, run: Run) -> bool:
    if user.is_staff:
        return True
    return run.team_id is not None and run.team_id in set(lead_team_ids(user))


def is_reviewer(user) -> bool:
    return user.is_staff or Membership.objects.filter(user=user, role="lead").exists()


def review_queue(user):
    """Ended runs of the user's led teams (every team for staff) with evidence and no review."""
    qs = Run.objects.select_related("owner", "team", "evidence").filter(
        status__in=Run.TERMINAL,
        evidence__isnull=False,
    )
    if not user.is_staff:
        qs = qs.filter(team_id__in=lead_team_ids(user))
    has_review = Review.objects.filter(run=OuterRef("pk"))
    return qs.filter(~Exists(has_review)).order_by("-finished_at", "-id")


def run_reviews(run: Run):
    return Review.objects.filter(run=run).select_related(
        "reviewer", "evidence", "evidence__attestation"
    )


def review_require(*, run: Run, reviewer) -> None:
    """Checked before the review body is looked at: a non-lead learns nothing about its rules."""
    if not can_review(reviewer, run):
        raise Forbidden(
            "Only a lead of the run's team (or staff) may review its evidence.",
            {"team": run.team.slug if run.team_id else None},
        )


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
