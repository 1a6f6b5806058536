from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from ..ids import iso
from ..models import Artifact, Run, RunNetwork
from .inputs import command_field


@extend_schema_field(OpenApiTypes.DATETIME)
class Timestamp(serializers.Field):
    def to_representation(self, value):
        return iso(value)


def absolute(request, path: str) -> str:
    if settings.PUBLIC_URL:
        return settings.PUBLIC_URL.rstrip("/") + path
    return request.build_absolute_uri(path) if request else path


def ws_url(request, path: str) -> str:
    url = absolute(request, path)
    return "ws" + url[4:] if url.startswith("http") else url


# Links other apps add (runs/http/public.py `run_link_add`): key -> URL name taking run_id.
RUN_LINKS: dict[str, str] = {}


def run_links(run: Run, request) -> dict:
    def api(name, **kw):
        return absolute(request, reverse(name, kwargs={"run_id": run.id, **kw}))

    return {
        "self": api("run-detail"),
        "archive": api("run-archive"),
        "transfers": absolute(request, f"/api/v1/workspace-runs/{run.id}/transfers"),
        "start": api("run-start"),
        "cancel": api("run-cancel"),
        "events": api("run-events"),
        "stream": absolute(request, f"/api/v1/workspace-runs/{run.id}/events/stream"),
        "websocket": ws_url(request, f"/ws/workspace-runs/{run.id}/events"),
        "artifacts": api("run-artifacts"),
        **{key: api(name) for key, name in RUN_LINKS.items()},
        "page": absolute(request, f"/runs/{run.id}"),
    }


def _nullable(field_class, **kw):
    return field_class(allow_null=True, **kw)


@extend_schema_serializer(component_name="RunArchive")
class ArchiveDoc(serializers.Serializer):
    sizeBytes = serializers.IntegerField()
    sha256 = serializers.CharField()
    filename = _nullable(serializers.CharField)
    uploadMethod = _nullable(serializers.ChoiceField, choices=["direct", "staged", "reused"])
    verifiedAt = _nullable(serializers.DateTimeField)
    expiredAt = _nullable(
        serializers.DateTimeField,
        help_text="when retention removed the stored archive (re-runs then await an upload)",
    )


@extend_schema_serializer(component_name="RunSandbox")
class SandboxDoc(serializers.Serializer):
    id = _nullable(serializers.CharField)
    kept = serializers.BooleanField()
    removedAt = _nullable(serializers.DateTimeField)


@extend_schema_serializer(component_name="RunLinks")
class LinksDoc(serializers.Serializer):
    self = serializers.URLField()
    archive = serializers.URLField()
    transfers = serializers.URLField()
    start = serializers.URLField()
    cancel = serializers.URLField()
    events = serializers.URLField()
    stream = serializers.URLField()
    websocket = serializers.CharField()
    artifacts = serializers.URLField()
    evidence = serializers.URLField()
    page = serializers.URLField()


@extend_schema_serializer(component_name="RunNetwork")
class NetworkDoc(serializers.Serializer):
    mode = serializers.ChoiceField(choices=["none", "allowlist", "replay"])
    replayOf = _nullable(serializers.CharField, help_text="the run a replay repeats")
    allow = serializers.ListField(
        child=serializers.CharField(), help_text="the allow list the run pinned"
    )
    requests = serializers.IntegerField(help_text="requests logged (after the run's command)")
    refused = serializers.IntegerField()
    bytes = serializers.IntegerField(help_text="bytes downloaded (allowed and replayed)")


def network_json(run: Run) -> dict:
    try:
        network = run.network  # selected with the run in lists (no query per run)
    except RunNetwork.DoesNotExist:
        network = None
    if network is None:
        return {"mode": "none", "replayOf": None, "allow": [], "requests": 0, "refused": 0,
                "bytes": 0}  # fmt: skip
    return {
        "mode": network.mode,
        "replayOf": network.replay_of_id,
        "allow": list(network.allow),
        "requests": network.requests,
        "refused": network.refused,
        "bytes": network.bytes,
    }


@extend_schema_serializer(component_name="Run")
class RunOut(serializers.Serializer):
    """The run object (docs/api.md). The fields below describe it in the OpenAPI schema; the
    object itself is built by to_representation, which a test keeps in step with them."""

    id = serializers.CharField()
    status = serializers.ChoiceField(choices=Run.Status.choices)
    template = serializers.CharField()
    command = command_field()
    archive = ArchiveDoc()
    artifactPaths = serializers.ListField(child=serializers.CharField())
    timeoutSeconds = serializers.IntegerField()
    keepSandbox = serializers.BooleanField()
    env = serializers.DictField(child=serializers.CharField())
    owner = serializers.CharField()
    team = _nullable(serializers.CharField)
    exitCode = _nullable(serializers.IntegerField)
    failureReason = _nullable(serializers.ChoiceField, choices=Run.Failure.choices)
    createdAt = serializers.DateTimeField()
    queuedAt = _nullable(serializers.DateTimeField)
    startedAt = _nullable(serializers.DateTimeField)
    finishedAt = _nullable(serializers.DateTimeField)
    lastSeq = serializers.IntegerField()
    artifactIds = serializers.ListField(child=serializers.CharField())
    evidenceAvailable = serializers.BooleanField()
    cancelRequested = serializers.BooleanField()
    sandbox = SandboxDoc()
    phases = serializers.DictField(child=serializers.FloatField())
    pinned = serializers.BooleanField(
        help_text="retention keeps a pinned run's archive and artifacts (PATCH to change)"
    )
    rerunOf = _nullable(
        serializers.CharField,
        help_text="the id of the run this one re-runs (POST .../rerun), or null",
    )
    imageDigest = _nullable(
        serializers.CharField,
        help_text="the digest of the template version the run pinned (null until a worker "
        "has recorded the image of a template built outside the workers)",
    )
    network = NetworkDoc()
    links = LinksDoc()

    def to_representation(self, run: Run):
        request = self.context.get("request")
        # Sorted in Python so a list view's prefetch serves every run without a query each.
        artifacts = sorted(run.artifacts.all(), key=lambda a: (a.created_at, a.path))
        artifact_ids = [a.id for a in artifacts]
        return {
            "id": run.id,
            "status": run.status,
            "template": run.template,
            "command": run.command,
            "archive": {
                "sizeBytes": run.archive_size_bytes,
                "sha256": run.archive_sha256,
                "filename": run.archive_filename or None,
                "uploadMethod": run.archive_upload_method or None,
                "verifiedAt": iso(run.archive_verified_at),
                "expiredAt": iso(run.archive_expired_at),
            },
            "artifactPaths": run.artifact_paths,
            "timeoutSeconds": run.timeout_seconds,
            "keepSandbox": run.keep_sandbox,
            "env": run.env,
            "owner": run.owner.get_username(),
            "team": run.team.slug if run.team_id else None,
            "exitCode": run.exit_code,
            "failureReason": run.failure_reason or None,
            "createdAt": iso(run.created_at),
            "queuedAt": iso(run.queued_at),
            "startedAt": iso(run.started_at),
            "finishedAt": iso(run.finished_at),
            "lastSeq": run.last_seq,
            "artifactIds": artifact_ids,
            "evidenceAvailable": hasattr(run, "evidence"),
            "cancelRequested": run.cancel_requested_at is not None,
            "sandbox": {
                "id": run.sandbox_id or None,
                "kept": bool(run.sandbox_id) and run.is_terminal and run.sandbox_removed_at is None,
                "removedAt": iso(run.sandbox_removed_at),
            },
            "phases": run.phases,
            "pinned": run.pinned,
            "rerunOf": run.rerun_of_id,
            "imageDigest": run.image_digest or None,
            "network": network_json(run),
            "links": run_links(run, request),
        }


@extend_schema_serializer(component_name="Artifact")
class ArtifactOut(serializers.ModelSerializer):
    runId = serializers.CharField(source="run_id")
    sizeBytes = serializers.IntegerField(source="size_bytes")
    contentType = serializers.CharField(source="content_type")
    createdAt = Timestamp(source="created_at")
    downloadUrl = serializers.SerializerMethodField()
    expiredAt = _nullable(
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
