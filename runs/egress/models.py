"""A run's network: its mode, the allow list it ran with, its totals and its request log.
Imported by runs/models.py (models of the runs app)."""

from urllib.parse import urlsplit

from django.db import models


class RunNetwork(models.Model):
    """Present for every run that asked for the network (absent: "none")."""

    class Mode(models.TextChoices):
        NONE = "none"
        ALLOWLIST = "allowlist"
        REPLAY = "replay"

    run = models.OneToOneField(
        "runs.Run", primary_key=True, on_delete=models.CASCADE, related_name="network"
    )
    mode = models.CharField(max_length=12, choices=Mode.choices, default=Mode.NONE)
    # The allow list pinned when the run was made (its template version's egressAllow).
    allow = models.JSONField(default=list, blank=True)
    replay_of = models.ForeignKey(
        "runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays"
    )
    requests = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)
    bytes = models.BigIntegerField(default=0)
    # sha256 of the log as served at .../network.ndjson, taken when the log was stored.
    log_sha256 = models.CharField(max_length=64, blank=True)
    recorded_at = models.DateTimeField(null=True, blank=True)
    # Set when retention removed this run's bodies from the blob store (digests stay).
    bodies_expired_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.run_id} {self.mode}"


class NetworkRequest(models.Model):
    """One request a run made through the egress proxy, in the order they finished."""

    class Decision(models.TextChoices):
        ALLOWED = "allowed"
        REFUSED = "refused"
        REPLAYED = "replayed"

    run = models.ForeignKey("runs.Run", on_delete=models.CASCADE, related_name="network_requests")
    seq = models.PositiveIntegerField()
    method = models.CharField(max_length=16)
    url = models.TextField()
    host = models.CharField(max_length=255)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    content_type = models.CharField(max_length=200, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    decision = models.CharField(max_length=10, choices=Decision.choices)
    reason = models.CharField(max_length=500, blank=True)
    # A few response headers (content-type, location, ...) so a replay answers like this did.
    headers = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["run", "seq"], name="network_request_run_seq")
        ]

    def __str__(self):
        return f"{self.run_id} #{self.seq} {self.method} {self.url}"

    @property
    def path(self) -> str:
        """The URL's path and query (the run page shows host and path apart)."""
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")
