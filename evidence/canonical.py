"""Canonical JSON: the bytes every digest over JSON is taken over (docs/evidence.md).

RFC 8785 (JCS), so that any JCS implementation reproduces a digest: object keys sorted by their
UTF-16 code units, no whitespace, strings escaped only where JSON requires it (non-ASCII, U+2028
and emoji are kept as UTF-8), numbers written as ECMAScript writes an IEEE 754 double (`1.0` is
`1`, `1e21` is `1e+21`, `-0` is `0`).

Bundles written before JCS carry no `canonicalization` field; their digests and event lines
stay in the form they were hashed in (LEGACY), so everything they named keeps verifying."""

import json

import rfc8785

JCS = "RFC8785"  # the bundle's `canonicalization` when its digests are over JCS bytes
LEGACY = "sorted-keys-v0"  # what a bundle without the field used (never written into one)
SAFE_INTEGER = 2**53 - 1


def canonical(data) -> bytes:
    """The RFC 8785 serialisation of data, UTF-8."""
    try:
        return rfc8785.dumps(data)
    except rfc8785.IntegerDomainError:
        return rfc8785.dumps(_as_doubles(data))


def _as_doubles(value):
    """A JSON number is a double: PostgreSQL's jsonb gives 1e21 back as the integer
    1000000000000000000000, which JCS writes as the double it is. An integer no double holds
    exactly has no JCS form, and is refused rather than silently rounded."""
    if isinstance(value, bool) or not isinstance(value, int | dict | list | tuple):
        return value
    if isinstance(value, int):
        if abs(value) <= SAFE_INTEGER:
            return value
        as_float = float(value)
        if int(as_float) != value:
            raise ValueError(f"{value} is not exactly a JSON (IEEE 754 double) number")
        return as_float
    if isinstance(value, dict):
        return {k: _as_doubles(v) for k, v in value.items()}
    return [_as_doubles(v) for v in value]


def legacy_canonical(data) -> bytes:
    """How digests were taken before JCS: Python's sorted-keys JSON, no spaces, UTF-8 kept."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def legacy_event_line(event: dict) -> bytes:
    """An events.ndjson line before JCS: {"seq","type","timestamp","data"} in that order."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def event_line(event: dict) -> bytes:
    """An events.ndjson line: the event's JCS bytes, then a newline."""
    return canonical(event) + b"\n"
