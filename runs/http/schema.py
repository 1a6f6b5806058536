"""How the API appears in its OpenAPI schema (/api/v1/schema/) beyond what each view declares.

- `errors(...)` turns error codes into documented responses, through the one error table
  (runs/http/errors.py), so a view declares "invalid_state" and the schema says 409.
- `postprocess` (a drf-spectacular hook) adds what every operation shares: 400/401/404/429 where
  they apply, the SSE stream (a plain Django view spectacular cannot see), the error envelope's
  headers; and it closes every response object (`additionalProperties: false`), so that a field
  the server sends but the schema does not name is a test failure, not a surprise for clients."""

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}
JSON_ERROR = {"application/json": {"schema": ENVELOPE}}

# Codes answered outside the domain table (authentication, DRF's own refusals).
EXTRA_CODES = {
    "not_authenticated": 401,
    "unsupported_media_type": 415,
    "method_not_allowed": 405,
    "not_acceptable": 406,
}

WHEN = {
    "invalid_request": "the request breaks a rule; details.fields names each field",
    "forbidden": "you may see this run but not do this to it",
    "not_found": "no such id, or not visible to you",
    "invalid_state": "the action does not fit the current status (details.status, .allowed)",
    "archive_required": "the run has no verified archive yet",
    "transfer_offset_mismatch": "the chunk does not continue at details.receivedBytes",
    "transfer_incomplete": "not every byte has arrived (details.receivedBytes, .sizeBytes)",
    "artifact_expired": "retention removed the artifact's bytes (its metadata and the evidence "
    "remain)",
    "archive_too_large": "over the limit (details.limitBytes; .useStagedTransfer for direct)",
    "unsupported_archive": "not a gzip-compressed tar",
    "unsupported_media_type": "the body's Content-Type is not one this operation reads",
    "archive_digest_mismatch": "the bytes' sha256 differs from the declared one",
    "archive_size_mismatch": "the byte count differs from the declared sizeBytes",
    "archive_unsafe": "a member breaks a rule (details.member, .rule)",
    "throttled": "too many requests, bad tokens, active runs or runs awaiting their archive; "
    "wait Retry-After seconds",
    "storage_unavailable": "archive storage refused; retry the same request",
}


def status_of(code: str) -> int:
    from .errors import TABLE  # not at import time: DRF imports auth.py, hence this, early

    for status, name in TABLE.values():
        if name == code:
            return status
    return EXTRA_CODES[code]


def errors(*codes: str) -> dict:
    """{status: response} documenting each error code under its status, in the envelope."""
    from .docs import ErrorOut

    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(status_of(code), []).append(code)
    return {
        status: OpenApiResponse(
            response=ErrorOut,
            description="; ".join(f"`{code}`: {WHEN[code]}" for code in names),
        )
        for status, names in by_status.items()
    }


ARCHIVE_BYTES = {"type": "string", "format": "binary", "contentMediaType": "application/gzip"}
ARCHIVE_REQUEST = {
    "application/gzip": ARCHIVE_BYTES,
    "application/x-gzip": ARCHIVE_BYTES,
    "application/octet-stream": ARCHIVE_BYTES,
    "multipart/form-data": {
        "type": "object",
        "properties": {"archive": ARCHIVE_BYTES},
        "required": ["archive"],
    },
}
DOWNLOAD_HEADERS = [
    OpenApiParameter(
        name, str, OpenApiParameter.HEADER, required=True, response=[200], description=text
    )
    for name, text in (
        ("ETag", '`"<sha256>"` of the bytes'),
        ("Content-Disposition", "`attachment; filename=...`"),
    )
]


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "runs.http.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `manage.py issue_token USERNAME`.",
        }


SHARED_RESPONSES = {
    "BadRequest": {
        "description": "`invalid_request`: a body field, query parameter or header breaks a "
        "rule; details.fields names each one",
        "content": JSON_ERROR,
    },
    "NotAuthenticated": {
        "description": "`not_authenticated`: no token or session, or a revoked one",
        "headers": {
            "WWW-Authenticate": {"schema": {"type": "string"}, "required": True},
        },
        "content": JSON_ERROR,
    },
    "NotFound": {
        "description": "`not_found`: no such id, or not visible to you (never 403)",
        "content": JSON_ERROR,
    },
    "Throttled": {
        "description": "`throttled`: too many requests; wait Retry-After seconds",
        "headers": {
            "Retry-After": {"schema": {"type": "integer", "minimum": 0}, "required": True},
        },
        "content": JSON_ERROR,
    },
}
SECURED = [{"bearerAuth": []}, {"cookieAuth": []}]


def sse_path() -> dict:
    from .inputs import LAST_EVENT_ID  # inputs imports models: not at this module's import

    return {
        "get": {
            "operationId": "streamEvents",
            "summary": "Follow a run's events as Server-Sent Events",
            "description": "First `retry: 1000`, then every stored event after the cursor, "
            "then live ones, each as `id: <seq>` / `event: <type>` / `data: <event JSON>` "
            "(the RunEvent schema); `: keepalive` comments in between. The stream ends right "
            "after the terminal event. Errors before the stream starts are JSON envelopes.",
            "tags": ["api"],
            "security": SECURED,
            "parameters": [
                {"in": "path", "name": "run_id", "required": True, "schema": {"type": "string"}},
                {
                    "in": "query",
                    "name": "afterSeq",
                    "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                    "description": "replay events after this seq (default 0)",
                },
                {
                    "in": "header",
                    "name": "Last-Event-ID",
                    "schema": {"type": "string", "pattern": LAST_EVENT_ID},
                    "description": "the seq last seen; wins over afterSeq",
                },
            ],
            "responses": {
                "200": {
                    "description": "the event stream, one SSE event per run event",
                    "content": {
                        "text/event-stream": {
                            "schema": {"$ref": "#/components/schemas/ServerSentEvent"}
                        }
                    },
                },
            },
        }
    }


def server_sent_event(kinds) -> dict:
    return {
        "type": "object",
        "description": "One SSE event as the stream frames it; `data` is a RunEvent's JSON.",
        "properties": {
            "id": {"type": "string", "pattern": "^[1-9][0-9]*$"},
            "event": {"type": "string", "enum": list(kinds)},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {"$ref": "#/components/schemas/RunEvent"},
            },
        },
        "required": ["id", "event", "data"],
        "additionalProperties": False,
    }


def _add_shared_errors(path: str, operation: dict) -> None:
    responses = operation.setdefault("responses", {})
    # drf-spectacular leaves `security` out of a public operation: say it (no auth needed).
    operation.setdefault("security", [])
    secured = any(operation["security"])
    params = operation.get("parameters", [])
    wanted = []
    if any(p["in"] in ("query", "header") for p in params) or "requestBody" in operation:
        wanted.append(("400", "BadRequest"))
    if secured:
        wanted.append(("401", "NotAuthenticated"))
    if "{" in path:
        wanted.append(("404", "NotFound"))
    if secured:  # the rate limit, and bad tokens from one address (the stream too)
        wanted.append(("429", "Throttled"))
    for status, name in wanted:
        responses.setdefault(status, {"$ref": f"#/components/responses/{name}"})
    for status, name in (("401", "NotAuthenticated"), ("429", "Throttled")):
        own = responses.get(status, {})
        if own and "$ref" not in own:  # a view's own description: the headers still apply
            own["headers"] = SHARED_RESPONSES[name]["headers"]
    operation["responses"] = dict(sorted(responses.items()))


def _refs(node, found: set) -> set:
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)
    return found


def _request_components(result: dict) -> set:
    """Components that describe request bodies (and what they refer to): left open."""
    names = set()
    for item in result["paths"].values():
        for operation in item.values():
            _refs(operation.get("requestBody", {}), names)
    schemas = result["components"]["schemas"]
    todo = list(names)
    while todo:
        for name in _refs(schemas.get(todo.pop(), {}), set()) - names:
            names.add(name)
            todo.append(name)
    return names


def _close(schema: dict) -> None:
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for value in schema.get("properties", {}).values():
            _close(value)


BLANK = {"type": "string", "maxLength": 0}


def _collapse_blank(node) -> None:
    """drf-spectacular writes an allow_blank string with a pattern as `oneOf: [the string, a
    blank string]`; when the first already admits "", the blank string matches both and breaks
    `oneOf` (exactly one). The first alone says the same."""
    if isinstance(node, list):
        for item in node:
            _collapse_blank(item)
        return
    if not isinstance(node, dict):
        return
    one_of = node.get("oneOf")
    if isinstance(one_of, list) and len(one_of) == 2 and one_of[1] == BLANK:
        first = one_of[0]
        pattern = first.get("pattern", "")
        if first.get("type") == "string" and not first.get("minLength") and re.search(pattern, ""):
            del node["oneOf"]
            node.update(first)
    for value in node.values():
        _collapse_blank(value)


def postprocess(result, generator, request, public):
    from .docs import EVENT_DATA

    components = result.setdefault("components", {})
    stream = "/api/v1/workspace-runs/{run_id}/events/stream"
    result["paths"][stream] = sse_path()
    result["paths"] = dict(sorted(result["paths"].items()))
    components.setdefault("responses", {}).update(SHARED_RESPONSES)
    components["schemas"]["ServerSentEvent"] = server_sent_event(EVENT_DATA)
    for path, item in result["paths"].items():
        for operation in item.values():
            _add_shared_errors(path, operation)
    open_ones = _request_components(result)
    _collapse_blank(components["schemas"])
    for name, schema in components["schemas"].items():
        if name not in open_ones:
            _close(schema)
    return result
