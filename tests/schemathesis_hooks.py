"""Loaded by schemathesis in tests/test_schemathesis.py: the archive upload's raw media types
carry bytes (schemathesis knows application/octet-stream, not the gzip names)."""

import schemathesis
from schemathesis.transport.serialization import serialize_binary


@schemathesis.serializer("application/gzip", "application/x-gzip")
def archive_bytes(ctx, value):
    return {"data": serialize_binary(value)}


def _a_name(value) -> bool:
    """What the schema allows for template and team: a short, non-blank string without NUL."""
    return isinstance(value, str) and 0 < len(value) <= 50 and bool(value.strip())


@schemathesis.hook
def before_call(ctx, case, kwargs):
    """createRun: any name the schema allows becomes a real one (the template exists, the team
    is the lead's), so that positive cases create runs; invalid values stay as generated, so
    negative cases are still refused."""
    if case.operation.label != "POST /api/v1/workspace-runs" or not isinstance(case.body, dict):
        return
    for field, real in (("template", "python-node"), ("team", "qa")):
        if _a_name(case.body.get(field)) and "\x00" not in case.body[field]:
            case.body[field] = real
