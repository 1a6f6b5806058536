"""Request validation: every rule a request body, query or header must meet lives here; the
services get only what passed. Errors become 400 invalid_request with details.fields.

JSON types are strict (5 is not "5", "true" is not true) and every rule that JSON Schema can say
is also in the field's OpenAPI schema, so that the schema refuses what the server refuses."""

import re

from django.conf import settings
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from ..errors import InvalidRequest
from ..models import Run

ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
NO_NUL = r"^[^\x00]*$"
NOT_BLANK_NO_NUL = r"^[^\x00]*[^\x00\s][^\x00]*$"
# Relative, without a `..` segment (either slash separates), not blank, no NUL.
RELATIVE_PATH = r"^(?:[^\x00/\s]|\s+[^\x00\s])[^\x00]*$"
PARENT_SEGMENT = r"(?:^|[/\\])\.\.(?:[/\\]|$)"
INT32_MAX = 2**31 - 1


class StrictText(serializers.CharField):
    """A JSON string and nothing else: 5 or true are refused, not turned into "5" or "True"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictInt(serializers.IntegerField):
    """A JSON integer ("5" and true are refused; 5.0 is 5, as JSON Schema counts it)."""

    def to_internal_value(self, data):
        if isinstance(data, float) and data.is_integer():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBool(serializers.BooleanField):
    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class QueryInt(serializers.IntegerField):
    """A query integer as decimal digits only ("5", not "5.0", "+5" or " 5")."""

    def to_internal_value(self, data):
        if not (isinstance(data, str) and re.fullmatch(r"[0-9]{1,18}", data)):
            self.fail("invalid")
        return super().to_internal_value(data)


def no_nul(value: str, limit: int) -> str:
    if "\x00" in value:
        raise serializers.ValidationError("must not contain NUL bytes")
    if len(value.encode()) > limit:
        raise serializers.ValidationError(f"is longer than {limit} bytes")
    return value


def text_schema(max_length: int, pattern: str = NO_NUL, **extra) -> dict:
    return {"type": "string", "maxLength": max_length, "pattern": pattern, **extra}


def documented(base: type, schema: dict, component: str | None = None, **kwargs):
    """A field of class `base` whose OpenAPI schema is `schema` (help_text, null and default
    are added by drf-spectacular as usual); with `component`, a named, shared schema."""
    cls = type(base.__name__, (base,), {})
    return extend_schema_field(schema, component_name=component)(cls)(**kwargs)


def command_field(**kwargs):
    return CommandField(**kwargs)


COMMAND_TEXT = text_schema(settings.CROWNEST_MAX_COMMAND_BYTES)
COMMAND_SCHEMA = {
    "description": "A string runs under `/bin/sh -c`; a list is the argv itself (its first "
    "element, the program, not empty). At most "
    f"{settings.CROWNEST_MAX_COMMAND_BYTES} bytes of UTF-8 per string; no NUL.",
    "oneOf": [
        text_schema(settings.CROWNEST_MAX_COMMAND_BYTES, NOT_BLANK_NO_NUL, minLength=1),
        {
            "type": "array",
            "minItems": 1,
            "items": COMMAND_TEXT,
            # The program (the first element) is not empty; later arguments may be.
            "not": {"prefixItems": [{"const": ""}]},
        },
    ],
}
CommandField = extend_schema_field(COMMAND_SCHEMA, component_name="Command")(
    type("CommandField", (serializers.JSONField,), {})
)
ENV_SCHEMA = {
    "type": "object",
    "maxProperties": settings.CROWNEST_MAX_ENV,
    "propertyNames": {"pattern": ENV_KEY.pattern},
    "additionalProperties": text_schema(32 * 1024),
}
NAME_SCHEMA = text_schema(50, NOT_BLANK_NO_NUL, minLength=1)


@extend_schema_serializer(component_name="ArchiveDeclaration")
class ArchiveIn(serializers.Serializer):
    # int64 whatever the configured limit, so generated clients do not depend on it.
    sizeBytes = documented(
        StrictInt,
        {
            "type": "integer",
            "format": "int64",
            "minimum": 1,
            "maximum": settings.CROWNEST_ARCHIVE_LIMIT,
        },
        min_value=1,
        max_value=settings.CROWNEST_ARCHIVE_LIMIT,
        source="size_bytes",
    )
    sha256 = documented(
        StrictText, {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}, trim_whitespace=False
    )
    filename = documented(
        StrictText,
        text_schema(255),
        max_length=255,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
    )

    def validate_sha256(self, value):
        if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
            raise serializers.ValidationError("must be 64 hex digits")
        return value

    def validate_filename(self, value):
        return no_nul(value, 1024)


@extend_schema_serializer(component_name="RunCreate")
class RunCreateIn(serializers.Serializer):
    """Every rule a new run's body must meet; the service gets only what passed."""

    template = documented(
        StrictText, NAME_SCHEMA, max_length=50, help_text="a name from GET /api/v1/templates"
    )
    command = command_field()
    archive = ArchiveIn()
    artifactPaths = serializers.ListField(
        child=documented(
            StrictText,
            text_schema(1024, RELATIVE_PATH, **{"not": {"pattern": PARENT_SEGMENT}}),
            max_length=1024,
            trim_whitespace=False,
        ),
        required=False,
        max_length=settings.CROWNEST_MAX_ARTIFACT_PATHS,
        source="artifact_paths",
        help_text="paths or globs relative to /workspace (no leading `/`, no `..`)",
    )
    timeoutSeconds = StrictInt(
        required=False,
        min_value=1,
        max_value=settings.CROWNEST_MAX_TIMEOUT,
        source="timeout_seconds",
    )
    keepSandbox = StrictBool(required=False, default=False, source="keep_sandbox")
    env = documented(
        serializers.DictField,
        ENV_SCHEMA,
        child=StrictText(allow_blank=True, trim_whitespace=False),
        required=False,
        help_text="environment variables for the command: names like `CI`, string values",
    )
    team = documented(
        StrictText,
        NAME_SCHEMA,
        required=False,
        allow_null=True,
        max_length=50,
        help_text="the slug of a team you belong to",
    )

    def validate_template(self, value):
        if value not in settings.CROWNEST_TEMPLATES:
            raise serializers.ValidationError(
                f"unknown template {value!r}; GET /api/v1/templates lists them"
            )
        return value

    def validate_command(self, value):
        limit = settings.CROWNEST_MAX_COMMAND_BYTES
        if isinstance(value, str):
            if not value.strip():
                raise serializers.ValidationError("must not be empty")
            return no_nul(value, limit)
        if not (isinstance(value, list) and value and all(isinstance(a, str) for a in value)):
            raise serializers.ValidationError("must be a string or a non-empty list of strings")
        if not value[0]:
            raise serializers.ValidationError("the program name must not be empty")
        # Every argument costs its bytes and a NUL in the exec (many empty ones add up too).
        if sum(len(no_nul(arg, limit).encode()) + 1 for arg in value) > limit:
            raise serializers.ValidationError(f"is longer than {limit} bytes in all")
        return value

    def validate_artifactPaths(self, value):
        for path in value:
            no_nul(path, 4 * 1024)
            parts = path.replace("\\", "/").split("/")
            if not path.strip() or path.startswith("/") or ".." in parts:
                raise serializers.ValidationError(
                    f"{path!r} must be a relative path inside /workspace"
                )
        return value

    def validate_env(self, value):
        if len(value) > settings.CROWNEST_MAX_ENV:
            raise serializers.ValidationError(f"at most {settings.CROWNEST_MAX_ENV} variables")
        total, limit = 0, settings.CROWNEST_MAX_ENV_BYTES
        for key, text in value.items():
            if not ENV_KEY.match(key):
                raise serializers.ValidationError(f"{key!r} is not a valid variable name")
            total += len(key) + len(no_nul(text, 32 * 1024).encode()) + 2  # KEY=value, NUL
        if total > limit:
            raise serializers.ValidationError(f"is longer than {limit} bytes in all")
        return value


class EventsQueryIn(serializers.Serializer):
    """Validate `data=request.query_params.dict()`: a QueryDict would turn `?x=` into "absent"."""

    afterSeq = QueryInt(
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
    template = serializers.CharField(required=False, allow_blank=True, help_text="a name")
    team = serializers.CharField(required=False, allow_blank=True, help_text="a team's slug")
    owner = serializers.CharField(required=False, allow_blank=True, help_text="a username")
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


def cursor_of(raw: str | None, digits: int = 18) -> int | None:
    """An SSE cursor (afterSeq, or Last-Event-ID with at most 9 digits): a seq, else None."""
    if raw is None or not re.fullmatch(f"[0-9]{{1,{digits}}}", raw):
        return None
    value = int(raw)
    return value if value <= INT32_MAX else None
