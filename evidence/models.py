from django.conf import settings
from django.db import models


class EvidenceBundle(models.Model):
    """Written once, after the run's terminal event; never updated."""

    run = models.OneToOneField("runs.Run", on_delete=models.PROTECT, related_name="evidence")
    data = models.JSONField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"evidence of {self.run_id}"


class Review(models.Model):
    """A team lead's verdict on one Evidence Bundle; the digest pins what was looked at."""

    class Verdict(models.TextChoices):
        APPROVE = "approve"
        REJECT = "reject"

    run = models.ForeignKey("runs.Run", on_delete=models.PROTECT, related_name="reviews")
    evidence = models.ForeignKey(EvidenceBundle, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="evidence_reviews"
    )
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    comment = models.TextField(blank=True, max_length=10_000)
    evidence_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.verdict} of {self.run_id} by {self.reviewer}"
