"""The shapes of API answers that views build by hand (events, pages, transfers, templates,
errors, health), as serializers that only describe them in the OpenAPI schema. The schemathesis
test (tests/test_schemathesis.py) holds the live answers to these."""

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_serializer
from rest_framework import serializers

from ..models import Run, Transfer
from .inputs import documented
from .serializers import RunOut

S = Run.Status
# In a fixed order (Run.TERMINAL is a set): the schema, and the types made from it, stay stable.
TERMINAL_CHOICES = [S.SUCCEEDED.value, S.FAILED.value, S.CANCELED.value]


def named(name: str):
    return extend_schema_serializer(component_name=name)


def nullable(field_class, **kw):
    return field_class(allow_null=True, **kw)


def const(value: str) -> serializers.Field:
    return documented(serializers.CharField, {"type": "string", "const": value})


SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}


@named("Error")
class ErrorBody(serializers.Serializer):
    code = serializers.CharField(help_text="snake_case, stable: clients branch on it")
    message = serializers.CharField(help_text="what happened and what to do, for a person")
    details = serializers.DictField(help_text="facts of this error: fields, status, limits...")


@named("ErrorEnvelope")
class ErrorOut(serializers.Serializer):
    error = ErrorBody()


@named("RunPage")
class RunPageOut(serializers.Serializer):
    count = serializers.IntegerField(min_value=0)
    page = serializers.IntegerField(min_value=1)
    pageSize = serializers.IntegerField(min_value=1, max_value=100)
    next = nullable(serializers.URLField, help_text="the next page, or null on the last one")
    previous = nullable(serializers.URLField, help_text="the page before, or null on the first")
    results = RunOut(many=True)


@named("ArchiveLookup")
class ArchiveLookupOut(serializers.Serializer):
    sha256 = serializers.CharField()
    sizeBytes = serializers.IntegerField(min_value=1)
    known = serializers.BooleanField(
        help_text="a new run with this archive would be ready at once (reused)"
    )


@named("PartUrl")
class PartUrlOut(serializers.Serializer):
    partNumber = serializers.IntegerField(min_value=1)
    url = serializers.URLField(help_text="PUT the bytes start..end here, with no Authorization")
    start = serializers.IntegerField(min_value=0)
    end = serializers.IntegerField(min_value=0, help_text="inclusive")


@named("StoredPart")
class StoredPartOut(serializers.Serializer):
    partNumber = serializers.IntegerField(min_value=1)
    sizeBytes = serializers.IntegerField(min_value=0)
    etag = serializers.CharField()


@named("Transfer")
class TransferOut(serializers.Serializer):
    id = serializers.CharField()
    runId = serializers.CharField()
    mode = serializers.ChoiceField(
        choices=Transfer.Mode.choices,
        help_text="`chunked`: PUT chunks to uploadUrl; `presigned`: PUT parts to their urls",
    )
    uploadUrl = serializers.URLField(help_text="PUT each chunk here, with Content-Range")
    chunkSizeBytes = serializers.IntegerField(
        min_value=1, help_text="the chunk size, or for presigned the part size"
    )
    receivedBytes = serializers.IntegerField(min_value=0, help_text="resume from here")
    sizeBytes = serializers.IntegerField(min_value=1)
    status = serializers.ChoiceField(choices=Transfer.Status.choices)
    expiresAt = serializers.DateTimeField()
    partCount = serializers.IntegerField(min_value=1, required=False, help_text="presigned only")
    parts = PartUrlOut(many=True, required=False, help_text="presigned only: the first page")
    nextFrom = nullable(
        serializers.IntegerField,
        required=False,
        help_text="presigned only: GET .../parts?from=N for the next page; null when none",
    )
    storedParts = StoredPartOut(
        many=True, required=False, help_text="presigned only: the parts storage holds (GET)"
    )


@named("TransferParts")
class TransferPartsOut(serializers.Serializer):
    transferId = serializers.CharField()
    parts = PartUrlOut(many=True)
    nextFrom = nullable(serializers.IntegerField, help_text="the next page's from; null if none")
    storedParts = StoredPartOut(many=True)
    expiresAt = serializers.DateTimeField()


@named("WorkerHost")
class HostOut(serializers.Serializer):
    name = serializers.CharField(help_text="CROWNEST_WORKER_HOST of the worker")
    slots = serializers.IntegerField(help_text="runs it can run at once (its concurrency)")
    slotsInUse = serializers.IntegerField(help_text="its runs in status running")
    lastSeenAt = serializers.DateTimeField(help_text="its last heartbeat")
    state = serializers.ChoiceField(
        choices=["up", "stopped", "lost"],
        help_text="up: heard within CROWNEST_HOST_LOST_SECONDS; stopped: shut down cleanly",
    )
    egress = serializers.CharField(
        help_text='its egress proxy at its last heartbeat: "ok", "unavailable: <why>", or "" '
        "(egress off on that host)"
    )


@named("Health")
class HealthOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "unavailable"])
    checks = documented(
        serializers.DictField,
        {
            "type": "object",
            # "egress" only where the installation has egress on (CROWNEST_EGRESS_ENABLED)
            "properties": {
                k: {"type": "string"} for k in ("database", "redis", "docker", "egress")
            },
            "required": ["database", "redis", "docker"],
            "additionalProperties": False,
            "description": '"ok", or "error: <what failed>"',
        },
    )
    hosts = HostOut(many=True, help_text="every worker host that has registered")


# --- events: each type's `data` is its own schema --------------------------------------------


@named("StatusEventData")
class StatusData(serializers.Serializer):
    status = serializers.ChoiceField(choices=S.choices)
    previous = nullable(serializers.ChoiceField, choices=S.choices)


@named("ArchiveProgressEventData")
class ArchiveProgressData(serializers.Serializer):
    phase = serializers.ChoiceField(choices=["upload", "verify", "extract"])
    bytesDone = serializers.IntegerField(min_value=0)
    bytesTotal = serializers.IntegerField(min_value=0)
    filesDone = serializers.IntegerField(min_value=0, required=False)
    expandedBytes = serializers.IntegerField(
        min_value=0,
        required=False,
        help_text="extract: the archive's size unpacked (bytesDone/bytesTotal count it compressed)",
    )


@named("OutputEventData")
class OutputData(serializers.Serializer):
    text = serializers.CharField(help_text="a chunk of the stream, not necessarily a line")


@named("ArtifactCollectedEventData")
class ArtifactCollectedData(serializers.Serializer):
    artifactId = serializers.CharField()
    path = serializers.CharField()
    sizeBytes = serializers.IntegerField(min_value=0)
    sha256 = documented(serializers.CharField, SHA256)


@named("ArtifactErrorEventData")
class ArtifactErrorData(serializers.Serializer):
    path = serializers.CharField()
    code = serializers.CharField(help_text="no_match, outside_workspace, too_large, ...")
    message = serializers.CharField()


@named("HeartbeatEventData")
class HeartbeatData(serializers.Serializer):
    elapsedSeconds = serializers.FloatField(min_value=0)


@named("ErrorEventData")
class ErrorData(serializers.Serializer):
    code = serializers.CharField(help_text="timeout, oom_killed, output_limit, sandbox_error, ...")
    message = serializers.CharField()


@named("TerminalEventData")
class TerminalData(serializers.Serializer):
    status = serializers.ChoiceField(choices=TERMINAL_CHOICES)
    exitCode = nullable(serializers.IntegerField)
    failureReason = nullable(serializers.ChoiceField, choices=Run.Failure.choices)
    durationSeconds = nullable(serializers.FloatField, min_value=0)
    artifactIds = serializers.ListField(child=serializers.CharField())


EVENT_DATA = {
    "status": StatusData,
    "archive_progress": ArchiveProgressData,
    "stdout": OutputData,
    "stderr": OutputData,
    "artifact_collected": ArtifactCollectedData,
    "artifact_error": ArtifactErrorData,
    "heartbeat": HeartbeatData,
    "error": ErrorData,
    "terminal": TerminalData,
}


def event_shape(kind: str, data: type) -> type:
    name = "".join(part.title() for part in kind.split("_")) + "Event"
    fields = {
        "seq": serializers.IntegerField(min_value=1),
        "type": const(kind),
        "timestamp": serializers.DateTimeField(),
        "data": data(),
    }
    return named(name)(type(name, (serializers.Serializer,), fields))


EVENT_SHAPES = {kind: event_shape(kind, data) for kind, data in EVENT_DATA.items()}


def run_event(**kw) -> PolymorphicProxySerializer:
    """One event: a union of the shapes above, told apart by `type`."""
    return PolymorphicProxySerializer(
        component_name="RunEvent", serializers=EVENT_SHAPES, resource_type_field_name="type", **kw
    )


@named("EventPage")
class EventPageOut(serializers.Serializer):
    events = run_event(many=True)
    nextAfterSeq = serializers.IntegerField(min_value=0, help_text="afterSeq for the next call")
    hasMore = serializers.BooleanField(help_text="stored events after nextAfterSeq exist")
    terminal = serializers.BooleanField(help_text="this window reached the terminal event")
