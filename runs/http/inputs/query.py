"""Query parameters and request headers: list pages, event windows, SSE cursors, downloads,
staged-transfer chunks. Views validate `request.query_params.dict()`: a QueryDict would make
`?page=` mean "absent" where the schema (an integer) says it is not valid."""

import re

from rest_framework import serializers

from ...errors import InvalidRequest
from ...models import Run
from ...stream.cursor import cursor_of
from .fields import INT32_MAX, NO_NUL, QueryInt, documented

NO_NUL_TEXT = {"type": "string", "pattern": NO_NUL}


class SeqQuery(QueryInt):
    """An event cursor, read by the parser that SSE and the websocket use too."""

    def to_internal_value(self, data):
        value = cursor_of(data) if isinstance(data, str) else None
        if value is None:
            self.fail("invalid")
        return super().to_internal_value(data)


class EventsQueryIn(serializers.Serializer):
    """Validate `data=request.query_params.dict()`: a QueryDict would turn `?x=` into "absent"."""

    afterSeq = SeqQuery(
        required=False,
        default=0,
        min_value=0,
        max_value=INT32_MAX,
        help_text="events after this seq (default 0)",
    )
    limit = QueryInt(
        required=False, default=100, min_value=1, max_value=1000, help_text="at most this many"
    )


_ONE_STATUS = "(?:" + "|".join(Run.Status.values) + ")"
STATUS_LIST = f"^(?:{_ONE_STATUS}(?:,{_ONE_STATUS})*)?$"


class RunListQueryIn(serializers.Serializer):
    status = documented(
        serializers.CharField,
        {"type": "string", "pattern": STATUS_LIST},
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="one or more statuses, comma-separated (`running,queued`)",
    )
    # No NUL (refused like any string of the API), which the schema says too.
    template = documented(
        serializers.CharField, NO_NUL_TEXT, required=False, allow_blank=True, help_text="a name"
    )
    team = documented(
        serializers.CharField,
        NO_NUL_TEXT,
        required=False,
        allow_blank=True,
        help_text="a team's slug",
    )
    owner = documented(
        serializers.CharField, NO_NUL_TEXT, required=False, allow_blank=True, help_text="a username"
    )
    page = QueryInt(
        required=False,
        default=1,
        min_value=1,
        max_value=INT32_MAX,
        help_text="from 1; a page past the last one has no results",
    )
    pageSize = QueryInt(
        required=False, default=20, min_value=1, max_value=100, help_text="default 20"
    )

    def validate_status(self, value):
        if not re.fullmatch(STATUS_LIST, value):
            raise serializers.ValidationError(
                f"must be one or more of {', '.join(Run.Status.values)}, comma-separated"
            )
        return value.split(",") if value else []


class ArchiveLookupQueryIn(serializers.Serializer):
    sizeBytes = QueryInt(min_value=1, help_text="the archive's size in bytes")


class DownloadQueryIn(serializers.Serializer):
    download = serializers.ChoiceField(
        choices=["true", "false", "1", "0"],
        required=False,
        help_text="`true`: answer with Content-Disposition attachment (a file to save)",
    )

    @property
    def attachment(self) -> bool:
        return self.validated_data.get("download") in ("true", "1")


CONTENT_RANGE = re.compile(r"bytes (\d{1,19})-(\d{1,19})/(\d{1,19})")


class ChunkHeadersIn(serializers.Serializer):
    """The headers of one staged-transfer chunk: Content-Range and, if sent, Content-Length."""

    contentRange = serializers.CharField(
        error_messages={
            "required": "a chunk needs a Content-Range: bytes START-END/TOTAL header",
            "blank": "a chunk needs a Content-Range: bytes START-END/TOTAL header",
        }
    )
    contentLength = serializers.IntegerField(required=False, min_value=0)

    def validate_contentRange(self, value):
        match = CONTENT_RANGE.fullmatch(value.strip())
        if match is None:
            raise serializers.ValidationError("must be 'bytes START-END/TOTAL'")
        start, end, total = map(int, match.groups())
        if end < start:
            raise serializers.ValidationError("END is before START")
        return start, end, total

    @classmethod
    def checked(cls, request) -> dict:
        """The validated headers, or 400 naming the header (as the client sent it)."""
        data = {"contentRange": request.headers.get("Content-Range", "")}
        length = request.META.get("CONTENT_LENGTH")
        if length:
            data["contentLength"] = length
        headers = cls(data=data)
        if not headers.is_valid():
            names = {"contentRange": "Content-Range", "contentLength": "Content-Length"}
            fields = {names[k]: [str(m) for m in v] for k, v in headers.errors.items()}
            said = "; ".join(f"{name} {' '.join(msgs)}" for name, msgs in fields.items())
            raise InvalidRequest(
                f"The chunk's headers are not valid ({said}); send Content-Range: "
                "bytes START-END/TOTAL with START = the transfer's receivedBytes.",
                {"header": next(iter(fields)), "fields": fields},
            )
        return headers.validated_data


LAST_EVENT_ID = r"^[0-9]{0,9}$"
