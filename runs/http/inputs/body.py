"""Request bodies: a new run (RunCreateIn) and its archive declaration."""

import re

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .fields import (
    ENV_KEY,
    INT32_MAX,
    NOT_BLANK_NO_NUL,
    PARENT_SEGMENT,
    RELATIVE_PATH,
    StrictBool,
    StrictInt,
    StrictText,
    blank,
    documented,
    named,
    no_nul,
    text_schema,
)


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


@named("ArchiveDeclaration")
class ArchiveIn(serializers.Serializer):
    # int64 whatever the configured limit, so generated clients do not depend on it. The schema
    # says the limit; the server answers a size over it 413 archive_too_large (services.py), as
    # it does for the bytes themselves, so no check here turns it into a 400.
    sizeBytes = documented(
        StrictInt,
        {
            "type": "integer",
            "format": "int64",
            "minimum": 1,
            "maximum": settings.CROWNEST_ARCHIVE_LIMIT,
        },
        min_value=1,
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


@named("RunUpdate")
class RunUpdateIn(serializers.Serializer):
    """PATCH of a run: only `pinned` (kept by retention) can change."""

    pinned = StrictBool(
        required=False, help_text="true: retention keeps this run's archive and artifacts"
    )


class StrictNumber(serializers.FloatField):
    """A JSON number (ints too); "2" and true are refused."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


@named("RunResources", additionalProperties=False)
class ResourcesIn(serializers.Serializer):
    """What the run asks for; each key left out gets the service's default. The schema's maximum
    is the service's; a template's or a team's may be lower. Over the one that applies: 400
    `invalid_request` naming it (checked by the service, which knows the template and team)."""

    cpus = documented(
        StrictNumber,
        {"type": "number", "minimum": 0.01, "maximum": settings.CROWNEST_RUN_MAX_CPUS},
        required=False,
        min_value=0.01,
        help_text="CPUs (a CFS quota; a whole number also pins that many CPUs: `nproc`)",
    )
    memoryMiB = documented(
        StrictInt,
        {"type": "integer", "minimum": 16, "maximum": settings.CROWNEST_RUN_MAX_MEMORY_MIB},
        required=False,
        min_value=16,
        max_value=INT32_MAX,
        help_text="MiB of memory",
    )
    diskMiB = documented(
        StrictInt,
        {"type": "integer", "minimum": 16, "maximum": settings.CROWNEST_RUN_MAX_DISK_MIB},
        required=False,
        min_value=16,
        max_value=INT32_MAX,
        help_text="MiB of /workspace (a filesystem of that size)",
    )

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        if unknown:
            raise serializers.ValidationError({key: ["is not a resource"] for key in unknown})
        return super().to_internal_value(data)


# replayOf (a run id) exactly when network is "replay" (RunCreateIn.validate says it too).
REPLAY_RULE = {
    "if": {"properties": {"network": {"const": "replay"}}, "required": ["network"]},
    "then": {"properties": {"replayOf": {"type": "string"}}, "required": ["replayOf"]},
    "else": {"properties": {"replayOf": {"type": "null"}}},
}


@named("RunCreate", **REPLAY_RULE)
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
    reuseArchive = StrictBool(
        required=False,
        default=True,
        source="reuse_archive",
        help_text="reuse a stored archive of yours or your teams' with the same sha256 and "
        'sizeBytes (the run is then `ready` at once, `uploadMethod: "reused"`); false to '
        "always upload",
    )

    network = serializers.ChoiceField(
        choices=["none", "allowlist", "replay"],
        required=False,
        default="none",
        help_text='"none" (no network), "allowlist" (the hosts the template allows, through the '
        'egress proxy), "replay" (the downloads recorded for `replayOf`, and nothing else)',
    )
    replayOf = documented(
        StrictText,
        text_schema(40, NOT_BLANK_NO_NUL, minLength=1),
        required=False,
        allow_null=True,
        max_length=40,
        source="replay_of",
        help_text='with network "replay": the run whose recorded downloads are replayed',
    )

    resources = ResourcesIn(required=False)

    def validate(self, attrs):
        mode, original = attrs.get("network", "none"), attrs.get("replay_of")
        if mode == "replay" and not original:
            raise serializers.ValidationError({"replayOf": ['is required with network "replay"']})
        if original and mode != "replay":
            raise serializers.ValidationError({"replayOf": ['goes only with network "replay"']})
        return attrs

    def validate_template(self, value):
        # The form only, as the schema says it: whether a template of this name exists is the
        # service's question (404 not_found, like any unknown id).
        if blank(value):
            raise serializers.ValidationError("must not be blank")
        return no_nul(value, 4 * 50)

    def validate_command(self, value):
        limit = settings.CROWNEST_MAX_COMMAND_BYTES
        if isinstance(value, str):
            if blank(value):
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
            if blank(path) or path.startswith("/") or ".." in parts:
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
