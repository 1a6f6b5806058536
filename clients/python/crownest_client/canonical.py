"""Canonical JSON as the service hashes it (docs/evidence.md): RFC 8785 (JCS), through the
`rfc8785` package, for the Evidence Bundle's digest (`X-Evidence-Sha256`) and each line of
events.ndjson. Bundles written before JCS carry no `canonicalization` field; their digest is
over Python's sorted-keys JSON (LEGACY), which this reproduces too."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

JCS = "RFC8785"  # a bundle's `canonicalization` when its digests are over JCS bytes
SAFE_INTEGER = 2**53 - 1


def canonical(value: Any) -> bytes:
    """The RFC 8785 serialisation of a JSON value, UTF-8. ValueError for what JSON cannot hold
    faithfully (NaN, infinities, an integer no IEEE 754 double holds exactly)."""
    try:
        try:
            return rfc8785.dumps(value)
        except rfc8785.IntegerDomainError:
            return rfc8785.dumps(_as_doubles(value))
    except rfc8785.CanonicalizationError as exc:
        raise ValueError(str(exc)) from None


def _as_doubles(value: Any) -> Any:
    # A JSON number is a double: 1e21 written as 1000000000000000000000 is still 1e+21 in JCS.
    if isinstance(value, bool) or not isinstance(value, int | dict | list | tuple):
        return value
    if isinstance(value, int):
        if abs(value) <= SAFE_INTEGER:
            return value
        if int(float(value)) != value:
            raise ValueError(f"{value} is not exactly a JSON (IEEE 754 double) number")
        return float(value)
    if isinstance(value, dict):
        return {k: _as_doubles(v) for k, v in value.items()}
    return [_as_doubles(v) for v in value]


def legacy_canonical(value: Any) -> bytes:
    """The serialisation of bundles written before JCS: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def evidence_sha256(bundle: dict) -> str:
    """The digest the service serves as `X-Evidence-Sha256` for this bundle."""
    jcs = isinstance(bundle, dict) and bundle.get("canonicalization") == JCS
    return hashlib.sha256(canonical(bundle) if jcs else legacy_canonical(bundle)).hexdigest()
