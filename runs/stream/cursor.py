"""The one parser of an event cursor (a seq to replay after), shared by listEvents' `afterSeq`,
the SSE stream's `afterSeq` and `Last-Event-ID`, and the websocket's `afterSeq`: the same text
means the same thing, or the same refusal, on all three."""

import re

SEQ_MAX = 2**31 - 1  # seqs are 32-bit integers in the database and the schema


def cursor_of(raw: str | None, digits: int = 18) -> int | None:
    """A seq from plain decimal digits ("0", "42"; at most `digits` of them, at most SEQ_MAX),
    else None: no sign, space, underscore, exponent or fraction ("+1", " 1", "1_0", "1e3")."""
    if raw is None or not re.fullmatch(f"[0-9]{{1,{digits}}}", raw):
        return None
    value = int(raw)
    return value if value <= SEQ_MAX else None
