"""The run object and its artifacts (docs/api.md): each serializer builds its answer, and the
OpenAPI schema is generated from the same fields. A new field of the run is one line here."""

from types import SimpleNamespace

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import Artifact, Run
from ..scheduling.queue import queue_info, snapshot
from ..scheduling.resources import run_resources
from .inputs import command_field
from .shapes import Number, Timestamp, absolute, blank_null, named, nullable, ws_url


@extend_schema_field(OpenApiTypes.URI)
class RunLink(serializers.Field):
    """One of the run's links, absolute: the URL named `url_name` (kwarg run_id), or `path`
    formatted with the run's id (routes that Django's URL names do not cover)."""

    def __init__(self, url_name: str = "", *, path: str = "", **kwargs):
        self.url_name, self.path = url_name, path
        super().__init__(source="*", **kwargs)

    def to_representation(self, run: Run) -> str:
        if self.url_name:
            where = reverse(self.url_name, kwargs={"run_id": run.id})
        else:
            where = self.path.format(id=run.id)
        return absolute(self.context.get("request"), where)


@extend_schema_field(OpenApiTypes.STR)
class WebsocketLink(RunLink):
    def to_representation(self, run: Run) -> str:
        return ws_url(self.context.get("request"), self.path.format(id=run.id))


# key -> URL name taking run_id. Apps built on runs add theirs (runs/http/public.py
# `run_link_add`); they come before `page`, in the order they were added.
RUN_LINKS: dict[str, str] = {}


@named("RunLinks")
class LinksOut(serializers.Serializer):
    def get_fields(self):
        fields = {
            "self": RunLink("run-detail"),
            "archive": RunLink("run-archive"),
            "transfers": RunLink("run-transfers"),
            "start": RunLink("run-start"),
            "cancel": RunLink("run-cancel"),
            "events": RunLink("run-events"),
            "stream": RunLink("run-stream"),
            "websocket": WebsocketLink(path="/ws/workspace-runs/{id}/events"),
            "artifacts": RunLink("run-artifacts"),
        }
        fields.update((key, RunLink(name)) for key, name in RUN_LINKS.items())
        fields["page"] = RunLink("run-page")
        return fields


@named("RunArchive")
class ArchiveOut(serializers.Serializer):
    sizeBytes = serializers.IntegerField(source="archive_size_bytes")
    sha256 = serializers.CharField(source="archive_sha256")
    filename = blank_null(serializers.CharField, source="archive_filename")
    uploadMethod = blank_null(
        serializers.ChoiceField,
        choices=["direct", "staged", "reused"],
        source="archive_upload_method",
    )
    verifiedAt = nullable(Timestamp, source="archive_verified_at")
    expiredAt = nullable(
        Timestamp,
        source="archive_expired_at",
        help_text="when retention removed the stored archive (re-runs then await an upload)",
    )


@named("RunSandbox")
class SandboxOut(serializers.Serializer):
    id = blank_null(serializers.CharField, source="sandbox_id")
    kept = serializers.SerializerMethodField()
    removedAt = nullable(Timestamp, source="sandbox_removed_at")

    def get_kept(self, run: Run) -> bool:
        return bool(run.sandbox_id) and run.is_terminal and run.sandbox_removed_at is None


# What a run without a RunNetwork row (one that never asked for the network) shows.
NO_NETWORK = SimpleNamespace(
    mode="none", replay_of_id=None, allow=[], requests=0, refused=0, bytes=0
)


@named("RunNetwork")
class NetworkOut(serializers.Serializer):
    mode = serializers.ChoiceField(choices=["none", "allowlist", "replay"])
    replayOf = nullable(
        serializers.CharField, source="replay_of_id", help_text="the run a replay repeats"
    )
    allow = serializers.ListField(
        child=serializers.CharField(), help_text="the allow list the run pinned"
    )
    requests = serializers.IntegerField(help_text="requests logged (after the run's command)")
    refused = serializers.IntegerField()
    bytes = serializers.IntegerField(help_text="bytes downloaded (allowed and replayed)")

    def get_attribute(self, run: Run):
        # The row is selected with the run in lists (no query per run); absent: no network.
        return super().get_attribute(run) or NO_NETWORK


@named("RunResourcesGranted")
class ResourcesOut(serializers.Serializer):
    cpus = Number()
    memoryMiB = serializers.IntegerField()
    diskMiB = serializers.IntegerField(
        allow_null=True, help_text="null: the workspace is not bounded"
    )

    def get_attribute(self, run: Run):
        return run_resources(run)


@named("RunQueue")
class QueueOut(serializers.Serializer):
    position = serializers.IntegerField(
        min_value=1, help_text="1 is next: the place among queued runs in the fair order"
    )
    reason = serializers.CharField(
        help_text='why it waits: "waiting for a free slot", "team <slug> is at its limit of N '
        'running runs", "<username> is at their limit of N running runs", or "no worker host '
        'has room for 4 CPUs"'
    )

    def get_attribute(self, run: Run):
        if run.status != Run.Status.QUEUED:
            return None
        # One read of the queue for a whole page of runs, not one per queued run.
        if "queue_snapshot" not in self.context:
            self.context["queue_snapshot"] = snapshot()
        return queue_info(run, self.context["queue_snapshot"])


@named("Run")
class RunOut(serializers.Serializer):
    """The run object (docs/api.md)."""

    id = serializers.CharField()
    status = serializers.ChoiceField(choices=Run.Status.choices)
    template = serializers.CharField()
    command = command_field()
    archive = ArchiveOut(source="*")
    artifactPaths = serializers.ListField(child=serializers.CharField(), source="artifact_paths")
    timeoutSeconds = serializers.IntegerField(source="timeout_seconds")
    keepSandbox = serializers.BooleanField(source="keep_sandbox")
    env = serializers.DictField(child=serializers.CharField())
    owner = serializers.CharField(source="owner.get_username")
    team = nullable(serializers.CharField, source="team.slug")
    exitCode = nullable(serializers.IntegerField, source="exit_code")
    failureReason = blank_null(
        serializers.ChoiceField, choices=Run.Failure.choices, source="failure_reason"
    )
    createdAt = Timestamp(source="created_at")
    queuedAt = nullable(Timestamp, source="queued_at")
    startedAt = nullable(Timestamp, source="started_at")
    finishedAt = nullable(Timestamp, source="finished_at")
    lastSeq = serializers.IntegerField(source="last_seq")
    artifactIds = serializers.SerializerMethodField()
    evidenceAvailable = serializers.SerializerMethodField()
    cancelRequested = serializers.SerializerMethodField()
    sandbox = SandboxOut(source="*")
    phases = serializers.DictField(child=Number())
    pinned = serializers.BooleanField(
        help_text="retention keeps a pinned run's archive and artifacts (PATCH to change)"
    )
    rerunOf = nullable(
        serializers.CharField,
        source="rerun_of_id",
        help_text="the id of the run this one re-runs (POST .../rerun), or null",
    )
    imageDigest = blank_null(
        serializers.CharField,
        source="image_digest",
        help_text="the digest of the template version the run pinned (null until a worker "
        "has recorded the image of a template built outside the workers)",
    )
    network = NetworkOut()
    resources = ResourcesOut(help_text="what the run asked for and got (defaults filled in)")
    queue = QueueOut(
        allow_null=True, help_text="while the run is queued: its place and why it waits; else null"
    )
    links = LinksOut(source="*")

    def get_artifactIds(self, run: Run) -> list[str]:
        # Sorted in Python so a list view's prefetch serves every run without a query each.
        return [a.id for a in sorted(run.artifacts.all(), key=lambda a: (a.created_at, a.path))]

    def get_evidenceAvailable(self, run: Run) -> bool:
        return hasattr(run, "evidence")  # the bundle's row (the evidence app's one-to-one)

    def get_cancelRequested(self, run: Run) -> bool:
        return run.cancel_requested_at is not None


@named("Artifact")
class ArtifactOut(serializers.ModelSerializer):
    runId = serializers.CharField(source="run_id")
    sizeBytes = serializers.IntegerField(source="size_bytes")
    contentType = serializers.CharField(source="content_type")
    createdAt = Timestamp(source="created_at")
    downloadUrl = serializers.SerializerMethodField()
    expiredAt = nullable(
        Timestamp,
        source="expired_at",
        help_text="when retention removed the bytes (a download then answers 410)",
    )

    class Meta:
        model = Artifact
        fields = [
            "id",
            "runId",
            "path",
            "sizeBytes",
            "sha256",
            "contentType",
            "createdAt",
            "downloadUrl",
            "expiredAt",
        ]

    def get_downloadUrl(self, obj) -> str:
        return absolute(self.context.get("request"), reverse("artifact-download", args=[obj.id]))


@named("ArchiveLookup")
class ArchiveLookupOut(serializers.Serializer):
    sha256 = serializers.CharField()
    sizeBytes = serializers.IntegerField(min_value=1)
    known = serializers.BooleanField(
        help_text="a new run with this archive would be ready at once (reused)"
    )
