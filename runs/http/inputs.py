"""Request validation: every rule a request body, query or header must meet lives here; the
services get only what passed. Errors become 400 invalid_request with details.fields."""

import re

from django.conf import settings
from rest_framework import serializers

ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class StrictText(serializers.CharField):
    """A JSON string and nothing else: 5 or true are refused, not turned into "5" or "True"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def utf8_size(value: str) -> int:
    """Bytes as UTF-8. A lone surrogate (JSON allows "\\ud800") has no UTF-8 form: neither
    PostgreSQL nor the sandbox's environment can hold it, so it is refused here."""
    try:
        return len(value.encode())
    except UnicodeEncodeError:
        raise serializers.ValidationError(
            "must be valid Unicode text (it contains a lone surrogate)"
        ) from None


def no_nul(value: str, limit: int) -> str:
    if "\x00" in value:
        raise serializers.ValidationError("must not contain NUL bytes")
    if utf8_size(value) > limit:
        raise serializers.ValidationError(f"is longer than {limit} bytes")
    return value


class ArchiveIn(serializers.Serializer):
    sizeBytes = serializers.IntegerField(min_value=1, source="size_bytes")
    sha256 = serializers.RegexField(r"^[0-9a-fA-F]{64}$")
    filename = serializers.CharField(max_length=255, required=False, allow_blank=True)


class RunCreateIn(serializers.Serializer):
    """Every rule a new run's body must meet; the service gets only what passed."""

    template = StrictText(max_length=50)
    command = serializers.JSONField(
        help_text="a string (run by /bin/sh -c) or a non-empty argv list of strings"
    )
    archive = ArchiveIn()
    artifactPaths = serializers.ListField(
        child=StrictText(max_length=1024, trim_whitespace=False),
        required=False,
        source="artifact_paths",
    )
    timeoutSeconds = serializers.IntegerField(required=False, source="timeout_seconds")
    keepSandbox = serializers.BooleanField(required=False, default=False, source="keep_sandbox")
    env = serializers.DictField(
        child=StrictText(allow_blank=True, trim_whitespace=False), required=False
    )
    team = serializers.SlugField(required=False, allow_null=True, max_length=50)

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
        # Each argument costs its bytes and a terminating NUL in the exec, as a string would.
        if sum(utf8_size(no_nul(arg, limit)) + 1 for arg in value) > limit:
            raise serializers.ValidationError(f"is longer than {limit} bytes in all")
        return value

    def validate_artifactPaths(self, value):
        if len(value) > settings.CROWNEST_MAX_ARTIFACT_PATHS:
            raise serializers.ValidationError(
                f"at most {settings.CROWNEST_MAX_ARTIFACT_PATHS} paths or globs, not {len(value)}"
            )
        for path in value:
            no_nul(path, 1024)
            parts = path.replace("\\", "/").split("/")
            if not path.strip() or path.startswith("/") or ".." in parts:
                raise serializers.ValidationError(
                    f"{path[:200]!r} must be a relative path inside /workspace (no leading /, "
                    "no '..')"
                )
        return value

    def validate_timeoutSeconds(self, value):
        if not 1 <= value <= settings.CROWNEST_MAX_TIMEOUT:
            raise serializers.ValidationError(
                f"must be between 1 and {settings.CROWNEST_MAX_TIMEOUT} seconds"
            )
        return value

    def validate_env(self, value):
        if len(value) > settings.CROWNEST_MAX_ENV:
            raise serializers.ValidationError(
                f"at most {settings.CROWNEST_MAX_ENV} variables, not {len(value)}"
            )
        total, limit = 0, settings.CROWNEST_MAX_ENV_BYTES
        for key, text in value.items():
            if not ENV_KEY.match(key):
                raise serializers.ValidationError(
                    f"{key[:64]!r} is not a valid variable name (letters, digits and _, "
                    "not starting with a digit, at most 128 characters)"
                )
            try:
                no_nul(text, 32 * 1024)
            except serializers.ValidationError as exc:
                raise serializers.ValidationError(f"{key}: {exc.detail[0]}") from None
            total += len(key) + utf8_size(text) + 2  # "KEY=value" and its NUL
        if total > limit:
            raise serializers.ValidationError(f"is longer than {limit} bytes in all")
        return value


class EventsQueryIn(serializers.Serializer):
    afterSeq = serializers.IntegerField(required=False, default=0, min_value=0)
    limit = serializers.IntegerField(required=False, default=100, min_value=1, max_value=1000)


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
    def from_request(cls, request) -> "ChunkHeadersIn":
        data = {"contentRange": request.headers.get("Content-Range", "")}
        length = request.META.get("CONTENT_LENGTH")
        if length:
            data["contentLength"] = length
        return cls(data=data)
