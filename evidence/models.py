from django.conf import settings
from django.db import models


class ImmutableRecord(Exception):
    """A second write of a record that is written once (bundles, attestations)."""


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

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRecord("an Evidence Bundle is written once and never changed")
        super().save(*args, **kwargs)


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
    # The sha256 of the signed attestation the lead judged; if the stored one ever differs, the
    # review is void (shown as such), whatever the database says otherwise.
    attestation_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.verdict} of {self.run_id} by {self.reviewer}"


class EvidenceKey(models.Model):
    """The public half of a signing key. Retired keys sign nothing new but stay listed, so the
    attestations they signed keep verifying."""

    keyid = models.CharField(max_length=64, primary_key=True)
    algorithm = models.CharField(max_length=40)
    public_key_pem = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return f"{self.keyid[:16]}… ({'retired' if self.retired_at else 'current'})"


class Attestation(models.Model):
    """The signed DSSE envelope of a run's Statement: the exact bytes served, written once."""

    bundle = models.OneToOneField(
        EvidenceBundle, on_delete=models.PROTECT, related_name="attestation"
    )
    envelope = models.TextField()
    sha256 = models.CharField(max_length=64)
    keyid = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"attestation of {self.bundle.run_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRecord("an attestation is written once and never changed")
        super().save(*args, **kwargs)
