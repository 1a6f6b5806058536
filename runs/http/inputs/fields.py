"""Strict JSON fields and the JSON Schema patterns they are documented with: what every request
rule is made of (the rules themselves are in body.py and query.py)."""

import re

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
NO_NUL = r"^[^\x00]*$"
# What counts as blank, spelled out: JSON Schema's `\s` (ECMAScript) and Python's str.isspace()
# differ (\x1c-\x1f and \x85 are only Python's, \ufeff only ECMAScript's); this set is both.
SPACE = r"\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
NOT_BLANK_NO_NUL = rf"^[^\x00]*[^\x00{SPACE}][^\x00]*$"
# Relative, without a `..` segment (either slash separates), not blank, no NUL.
RELATIVE_PATH = rf"^(?:[^\x00/{SPACE}]|[{SPACE}]+[^\x00{SPACE}])[^\x00]*$"
HAS_TEXT = re.compile(rf"[^{SPACE}]")


def blank(value: str) -> bool:
    """Only spaces (SPACE), as the documented patterns say."""
    return HAS_TEXT.search(value) is None


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


def named(name: str, **rules):
    """The serializer's schema component `name`. `rules` are JSON Schema keywords of the whole
    object that drf-spectacular cannot derive from the fields (a rule across fields, a body that
    refuses unknown fields: `additionalProperties=False`); runs/http/schema.py `postprocess`
    moves them from this vendor extension into the component."""
    extensions = {"x-object-rules": rules} if rules else None
    return extend_schema_serializer(component_name=name, extensions=extensions)
