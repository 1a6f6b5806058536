"""Quotas: models of the runs app (app label `runs`, table runs_quota); runs/models.py imports
them. Every limit is optional: null means the setting's default (CROWNEST_QUOTA_*), and a
setting of 0 means no limit."""

from django.conf import settings
from django.db import models
from django.db.models import Q

# The quota names as the API spells them, in the order the API lists them, with their fields.
QUOTA_FIELDS = {
    "maxRunning": "max_running",
    "runMinutesPerDay": "run_minutes_per_day",
    "runMinutesPerMonth": "run_minutes_per_month",
    "storedBytes": "stored_bytes",
    "maxAwaitingArchive": "max_awaiting_archive",
}
# The largest resources one run of the team may ask for (null: the template's and settings').
MAXIMUM_FIELDS = {"cpus": "max_cpus", "memoryMiB": "max_memory_mib", "diskMiB": "max_disk_mib"}


class Quota(models.Model):
    """One team's or one user's limits (exactly one of the two), staff-managed."""

    team = models.OneToOneField(
        "runs.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="quota"
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="crownest_quota",
    )
    max_running = models.PositiveIntegerField(null=True, blank=True)
    run_minutes_per_day = models.PositiveIntegerField(null=True, blank=True)
    run_minutes_per_month = models.PositiveIntegerField(null=True, blank=True)
    stored_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    max_awaiting_archive = models.PositiveIntegerField(null=True, blank=True)
    max_cpus = models.FloatField(null=True, blank=True)
    max_memory_mib = models.PositiveIntegerField(null=True, blank=True)
    max_disk_mib = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(team__isnull=True, user__isnull=False)
                | Q(team__isnull=False, user__isnull=True),
                name="quota_one_scope",
            )
        ]

    def __str__(self):
        return f"quota of {self.team or self.user}"
