"""What the API's output serializers are made of: each answer is declared once, as a serializer
that builds it (fields with `source=`, SerializerMethodField where a value is derived), and the
OpenAPI schema is generated from those same declarations (drf-spectacular).

Here: nullable fields, the API's timestamp form, stored blanks shown as null, numbers passed
through as stored, values whose one builder other readers share (`built_by`), absolute URLs; and
`named`, a schema component's name (defined with the request fields, which use it too)."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..ids import iso
from .inputs.fields import documented, named  # noqa: F401 (named: output code imports it here)

SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}


def nullable(field_class, **kw):
    return field_class(allow_null=True, **kw)


def const(value: str) -> serializers.Field:
    return documented(serializers.CharField, {"type": "string", "const": value})


def sha256(**kw) -> serializers.Field:
    return documented(serializers.CharField, SHA256, **kw)


@extend_schema_field(OpenApiTypes.DATETIME)
class Timestamp(serializers.Field):
    """RFC 3339 UTC with milliseconds (ids.iso), as every timestamp of the API; null stays null."""

    def to_representation(self, value):
        return iso(value)


_BLANK_AS_NULL: dict[type, type] = {}


def blank_null(field_class, **kw) -> serializers.Field:
    """A nullable field whose stored blank ("", the model's empty value) is shown as null."""
    cls = _BLANK_AS_NULL.get(field_class)
    if cls is None:

        def to_representation(self, value):
            return None if value == "" else field_class.to_representation(self, value)

        cls = type(field_class.__name__, (field_class,), {"to_representation": to_representation})
        _BLANK_AS_NULL[field_class] = cls
    return cls(allow_null=True, **kw)


def built_by(build, schema, **kwargs) -> serializers.Field:
    """A value that `build` makes, documented as `schema` (a serializer or a JSON Schema): for a
    shape whose one builder other readers share (a hashed log's lines, the stream's events), so
    that this answer cannot write it a second way."""
    cls = type("BuiltBy", (serializers.Field,), {"to_representation": lambda self, v: build(v)})
    return extend_schema_field(schema)(cls)(**kwargs)


class Number(serializers.FloatField):
    """A number shown as stored (1 stays 1, 0.25 stays 0.25): FloatField would write 1.0."""

    def to_representation(self, value):
        return value


def absolute(request, path: str) -> str:
    if settings.PUBLIC_URL:
        return settings.PUBLIC_URL.rstrip("/") + path
    return request.build_absolute_uri(path) if request else path


def ws_url(request, path: str) -> str:
    url = absolute(request, path)
    return "ws" + url[4:] if url.startswith("http") else url
