"""Events in the API: one event's JSON is runs/stream/events.py's `event_dict` (the SSE stream,
the websocket, listEvents and the evidence's event log all use it), and its `data` is what the
worker and the services stored for its type. The serializers below the page say, per type, what
that stored `data` holds, for the schema's RunEvent union; the page itself (listEvents) is built
by EventPageOut."""

import json
from dataclasses import dataclass

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from .. import selectors
from ..models import Run
from ..stream.events import event_dict
from .shapes import built_by, const, named, nullable, sha256

S = Run.Status
# In a fixed order (Run.TERMINAL is a set): the schema, and the types made from it, stay stable.
TERMINAL_CHOICES = [S.SUCCEEDED.value, S.FAILED.value, S.CANCELED.value]


@named("StatusEventData")
class StatusData(serializers.Serializer):
    status = serializers.ChoiceField(choices=S.choices)
    previous = nullable(serializers.ChoiceField, choices=S.choices)


@named("ArchiveProgressEventData")
class ArchiveProgressData(serializers.Serializer):
    phase = serializers.ChoiceField(
        choices=["upload", "verify", "pull", "extract"],
        help_text="pull: the worker host fetches the template version's image from the registry",
    )
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
    sha256 = sha256()


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
    """One event in the schema: a union of the shapes above, told apart by `type`."""
    return PolymorphicProxySerializer(
        component_name="RunEvent", serializers=EVENT_SHAPES, resource_type_field_name="type", **kw
    )


@dataclass
class EventWindow:
    events: list
    next_after_seq: int
    has_more: bool
    terminal: bool


def event_window(run: Run, after: int, limit: int) -> EventWindow:
    events = selectors.events_after(run.id, after, limit)
    last = events[-1].seq if events else after
    ended = run.terminal_seq is not None and last >= run.terminal_seq
    return EventWindow(events, last, last < run.last_seq, ended)


@named("EventPage")
class EventPageOut(serializers.Serializer):
    # Each event as event_dict writes it for every reader (SSE, websocket, events.ndjson).
    events = serializers.ListField(child=built_by(event_dict, run_event()))
    nextAfterSeq = serializers.IntegerField(
        min_value=0, source="next_after_seq", help_text="afterSeq for the next call"
    )
    hasMore = serializers.BooleanField(
        source="has_more", help_text="stored events after nextAfterSeq exist"
    )
    terminal = serializers.BooleanField(help_text="this window reached the terminal event")


class EventsRenderer(JSONRenderer):
    """listEvents' bytes: each event exactly as event_json writes it for SSE and the websocket.
    DRF's renderer would escape U+2028/U+2029 (for JSON inside a <script>), and the same event
    would then differ by a few bytes between listEvents and the stream."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
