"""Request validation: every rule a request body, query or header must meet lives here; the
services get only what passed. Errors become 400 invalid_request with details.fields.

JSON types are strict (5 is not "5", "true" is not true) and every rule that JSON Schema can say
is also in the field's OpenAPI schema, so that the schema refuses what the server refuses.
fields.py holds the strict fields, body.py the request bodies, query.py queries and headers."""

from .body import ArchiveIn, CommandField, RunCreateIn, RunUpdateIn, command_field
from .fields import ENV_KEY, StrictText, documented, no_nul
from .query import (
    CONTENT_RANGE,
    LAST_EVENT_ID,
    STATUS_LIST,
    ArchiveLookupQueryIn,
    ChunkHeadersIn,
    DownloadQueryIn,
    EventsQueryIn,
    RunListQueryIn,
    cursor_of,
)

__all__ = [
    "CONTENT_RANGE",
    "ENV_KEY",
    "LAST_EVENT_ID",
    "STATUS_LIST",
    "ArchiveIn",
    "ArchiveLookupQueryIn",
    "ChunkHeadersIn",
    "CommandField",
    "DownloadQueryIn",
    "EventsQueryIn",
    "RunCreateIn",
    "RunListQueryIn",
    "RunUpdateIn",
    "StrictText",
    "command_field",
    "cursor_of",
    "documented",
    "no_nul",
]
