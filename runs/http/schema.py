"""How the API appears in its OpenAPI schema (/api/v1/schema/) beyond what each view declares.

- `errors(...)` turns error codes into documented responses, through the one error table
  (runs/http/error_table.py), so a view declares "invalid_state" and the schema says 409.
- `postprocess` (a drf-spectacular hook) adds what every operation shares: 400/401/404/429 where
  they apply, the SSE stream (a plain Django view spectacular cannot see), the error envelope's
  headers; and it closes every response object (`additionalProperties: false`), so that a field
  the server sends but the schema does not name is a test failure, not a surprise for clients."""

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}
JSON_ERROR = {"application/json": {"schema": ENVELOPE}}


def errors(*codes: str) -> dict:
    """{status: response} documenting each error code under its status, in the envelope, with
    the words of the error table (runs/http/error_table.py)."""
    from .error_table import api_error  # not at import time: DRF imports auth.py, hence this,
    from .errors import ErrorOut  # early, and these import the models

    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(api_error(code).status, []).append(code)
    return {
        status: OpenApiResponse(response=ErrorOut, description=described(*names))
        for status, names in by_status.items()
    }


def described(*codes: str) -> str:
    from .error_table import api_error

    return "; ".join(f"`{code}`: {api_error(code).when}" for code in codes)


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


# Responses every operation may give (_add_shared_errors says which): name -> (code, headers).
SHARED = {
    "BadRequest": ("invalid_request", {}),
    "NotAuthenticated": (
        "not_authenticated",
        {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
    ),
    "NotFound": ("not_found", {}),
    "Throttled": (
        "throttled",
        {"Retry-After": {"schema": {"type": "integer", "minimum": 0}, "required": True}},
    ),
}


def shared_responses() -> dict:
    out = {}
    for name, (code, headers) in SHARED.items():
        out[name] = {"description": described(code)}
        if headers:
            out[name]["headers"] = headers
        out[name]["content"] = JSON_ERROR
    return out


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
            own["headers"] = SHARED[name][1]
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
    """An answer's shape: closed, and with no `readOnly` (drf-spectacular marks derived fields
    so; in a shape that only answers, every field is, and clients would type a few `readonly`)."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for value in schema.get("properties", {}).values():
            if isinstance(value, dict):
                value.pop("readOnly", None)
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
    from .event_out import EVENT_DATA

    components = result.setdefault("components", {})
    stream = "/api/v1/workspace-runs/{run_id}/events/stream"
    result["paths"][stream] = sse_path()
    result["paths"] = dict(sorted(result["paths"].items()))
    components.setdefault("responses", {}).update(shared_responses())
    components["schemas"]["ServerSentEvent"] = server_sent_event(EVENT_DATA)
    for path, item in result["paths"].items():
        for operation in item.values():
            _add_shared_errors(path, operation)
    for schema in components["schemas"].values():
        schema.update(schema.pop("x-object-rules", {}))  # inputs/fields.py `named`
    open_ones = _request_components(result)
    _collapse_blank(components["schemas"])
    _collapse_blank(result["paths"])  # query parameters: `?team=` is a blank string too
    for name, schema in components["schemas"].items():
        if name not in open_ones:
            _close(schema)
    return result
