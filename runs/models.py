import hashlib

from django.conf import settings
from django.db import models

from .egress.models import NetworkRequest, RunNetwork  # noqa: F401 (models of this app)
from .ids import new_id
from .sandbox_templates.models import Template, TemplateVersion  # noqa: F401 (models of this app)
from .scheduling.models import Quota  # noqa: F401 (models of this app)


def run_id():
    return new_id("wr_")


def artifact_id():
    return new_id("af_")


class Team(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="crownest_teams"
    )

    def __str__(self):
        return self.slug


class Membership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member"
        LEAD = "lead"

    team = models.ForeignKey(Team, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership")]

    def __str__(self):
        return f"{self.user} in {self.team} ({self.role})"


class ApiToken(models.Model):
    """Only the sha256 of a token is stored; the token itself is shown once, when issued."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()


class Run(models.Model):
    class Status(models.TextChoices):
        AWAITING_ARCHIVE = "awaiting_archive"
        READY = "ready"
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELED = "canceled"

    TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELED})

    class Failure(models.TextChoices):
        EXIT_CODE = "exit_code"
        TIMEOUT = "timeout"
        ARCHIVE_INVALID = "archive_invalid"
        SANDBOX_ERROR = "sandbox_error"
        OOM_KILLED = "oom_killed"
        OUTPUT_LIMIT = "output_limit"
        LOST_WORKER = "lost_worker"
        DISK_LIMIT = "disk_limit"

    class Phase(models.TextChoices):
        """The keys of `phases` (seconds per phase): one set of names for the run object, the
        run page and the docs. Those up to collect are known at the terminal event; evidence and
        cleanup (the sandbox's removal) follow it."""

        QUEUE = "queue"
        # Only on a host that lacked the template version's image: pulled from the registry.
        PULL = "pull"
        SANDBOX = "sandbox"
        EXTRACT = "extract"
        COMMAND = "command"
        COLLECT = "collect"
        EVIDENCE = "evidence"
        CLEANUP = "cleanup"

    id = models.CharField(primary_key=True, max_length=40, default=run_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="runs"
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    template = models.CharField(max_length=50)
    command = models.JSONField()
    artifact_paths = models.JSONField(default=list, blank=True)
    timeout_seconds = models.PositiveIntegerField()
    keep_sandbox = models.BooleanField(default=False)
    env = models.JSONField(default=dict, blank=True)
    # What the run asked for and got ({cpus, memoryMiB, diskMiB}, filled from the defaults when
    # made): the sandbox's limits, and what it takes of its host's capacity.
    resources = models.JSONField(default=dict, blank=True)
    client = models.CharField(max_length=200, blank=True)

    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.AWAITING_ARCHIVE, db_index=True
    )
    exit_code = models.IntegerField(null=True, blank=True)
    failure_reason = models.CharField(max_length=20, choices=Failure.choices, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)

    archive_size_bytes = models.BigIntegerField()
    archive_sha256 = models.CharField(max_length=64)
    archive_filename = models.CharField(max_length=255, blank=True)
    archive_upload_method = models.CharField(max_length=20, blank=True)
    archive_verified_at = models.DateTimeField(null=True, blank=True)
    # The storage name; shared by every run that reuses the same stored archive.
    archive_file = models.CharField(max_length=300, blank=True, db_index=True)
    archive_file_count = models.IntegerField(null=True, blank=True)
    archive_expanded_bytes = models.BigIntegerField(null=True, blank=True)
    # Set when retention removed the stored archive (archive_file is then empty).
    archive_expired_at = models.DateTimeField(null=True, blank=True)
    # A pinned run's archive and artifacts are never removed by retention.
    pinned = models.BooleanField(default=False)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    command_started_at = models.DateTimeField(null=True, blank=True)
    command_finished_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set once the steps after the terminal event (evidence, sandbox removal) have all been done;
    # the reaper redoes them for a run that ended long enough ago without it.
    ending_done_at = models.DateTimeField(null=True, blank=True)

    # seq of the last event; seqs are allocated by incrementing this under the row lock.
    last_seq = models.PositiveIntegerField(default=0)
    terminal_seq = models.PositiveIntegerField(null=True, blank=True)
    # The token of the last event batch the worker wrote (runs/stream/events.py `append`).
    last_write = models.CharField(max_length=32, blank=True, default="")

    worker = models.CharField(max_length=200, blank=True)
    worker_seen_at = models.DateTimeField(null=True, blank=True)
    # The worker host (the Docker engine) that runs or ran the sandbox: its reaper cleans it up.
    worker_host = models.CharField(max_length=100, blank=True, db_index=True)
    image = models.CharField(max_length=200, blank=True)
    image_digest = models.CharField(max_length=100, blank=True)
    sandbox_id = models.CharField(max_length=100, blank=True)
    sandbox_removed_at = models.DateTimeField(null=True, blank=True)
    phases = models.JSONField(default=dict, blank=True)
    limits = models.JSONField(default=dict, blank=True)
    # The run this one repeats (POST .../rerun); it shares that run's stored archive.
    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    # The template version pinned when the run was made; reruns keep it.
    template_version = models.ForeignKey(
        TemplateVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            # Archive reuse looks a stored archive up by its digest.
            models.Index(fields=["archive_sha256", "archive_size_bytes"]),
        ]

    def __str__(self):
        return self.id

    @property
    def is_terminal(self):
        return self.status in self.TERMINAL


class RunEvent(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=30)
    timestamp = models.DateTimeField()
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="one_event_per_seq")]

    def __str__(self):
        return f"{self.run_id}#{self.seq} {self.type}"


class Artifact(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=artifact_id, editable=False)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="artifacts")
    path = models.CharField(max_length=1024)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=100)
    file = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when retention removed the stored bytes (file is then empty); downloads answer 410.
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "path"]

    def __str__(self):
        return f"{self.id} {self.path}"


def transfer_id():
    return new_id("tr_")


class Transfer(models.Model):
    """A resumable staged upload of a run's archive; the owner is the run's owner."""

    class Status(models.TextChoices):
        OPEN = "open"
        COMPLETED = "completed"
        ABORTED = "aborted"
        FAILED = "failed"
        EXPIRED = "expired"

    class Mode(models.TextChoices):
        CHUNKED = "chunked"  # chunks PUT to the web process
        PRESIGNED = "presigned"  # parts PUT by the client straight to object storage

    id = models.CharField(primary_key=True, max_length=40, default=transfer_id, editable=False)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="transfers")
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.CHUNKED)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    size_bytes = models.BigIntegerField()
    received_bytes = models.BigIntegerField(default=0)
    chunk_size_bytes = models.PositiveIntegerField()
    # Local: the partial file under MEDIA_ROOT; S3: the object key of the multipart upload.
    # Cleared once the data is gone (or, when completed, has become the run's archive).
    temp_name = models.CharField(max_length=300, blank=True)
    s3_upload_id = models.CharField(max_length=300, blank=True)
    # One entry per received chunk: {"n", "start", "end"}, on S3 also "md5" and "etag", so that
    # a resent chunk is recognised (locally by reading the stored range back).
    parts = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.id} ({self.status})"


class WorkerHost(models.Model):
    """A Celery worker with its own Docker engine and run slots (its concurrency); it records
    itself at start and beats while it lives (runs/worker/hosts.py)."""

    name = models.CharField(max_length=100, unique=True)
    docker_host = models.CharField(max_length=300, blank=True)
    instance = models.CharField(max_length=100, blank=True)
    slots = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    # Whether this host's egress proxy answered at its last heartbeat ("ok", or why not);
    # empty where egress is off (runs/egress/health.py).
    egress = models.CharField(max_length=300, blank=True)
    # What the host lends to sandboxes (CROWNEST_HOST_*; 0: not bounded): a run is taken only
    # where its resources fit beside the runs already running there.
    cpus = models.FloatField(default=0)
    memory_mib = models.PositiveIntegerField(default=0)
    disk_mib = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name
