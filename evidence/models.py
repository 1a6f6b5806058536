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
