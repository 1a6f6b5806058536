import os
import time
from datetime import UTC as _UTC

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str) -> str:
    """prefix + ULID: 48 bits of milliseconds then 80 random bits, Crockford base32 (sortable)."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return prefix + "".join(reversed(chars))


def iso(dt):
    """RFC 3339 UTC with milliseconds, as every timestamp of the API."""
    if dt is None:
        return None
    return dt.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# Ids (`wr_` + 26 characters, ...) and template names are short and printable.
ID_MAX_LENGTH = 64


def id_ok(value: str) -> bool:
    """Whether `value` may name something: anything longer, or holding NUL (which must never
    reach SQL), names nothing, and the caller answers 404 without a query."""
    return isinstance(value, str) and 0 < len(value) <= ID_MAX_LENGTH and "\x00" not in value
