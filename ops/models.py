"""The audit log: one row per state-changing action by a person, a token or an operator's
command (docs/operations.md, "Audit"). Rows are only ever added: the model refuses updates and
deletes, and on PostgreSQL a trigger refuses them too (ops/migrations/0002)."""

from django.db import models
from django.utils import timezone


class AppendOnly(Exception):
    """An audit row may be added, never changed or removed."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnly("audit rows are never changed")

    def delete(self):
        raise AppendOnly("audit rows are never removed")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnly("audit rows are never changed")

    def update_or_create(self, *args, **kwargs):
        raise AppendOnly("audit rows are never changed")


class AuditEntry(models.Model):
    # No foreign keys: a row outlives the user, token or run it names, and nothing cascades.
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=150, blank=True, db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    token_id = models.BigIntegerField(null=True, blank=True)
    staff = models.BooleanField(default=False)
    address = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=100, blank=True)
    outcome = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor or '-'} {self.action} {self.outcome}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnly("audit rows are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("audit rows are never removed")
