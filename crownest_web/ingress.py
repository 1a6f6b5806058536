"""The guard in front of Django: a request's framing, credentials and body limit are checked from
its headers before a byte of its body is read; the body is then counted and timed as it arrives.

Why a guard at the ASGI level: Django's ASGI handler reads (and spools to disk) the whole body
before any middleware or view runs, so nothing inside Django can refuse a body before it is
stored. Under a server that hands the body to the application as it arrives and sends
`100 Continue` only when the application first asks for the body (uvicorn, crownest_web/serve.py),
this guard answers first: a refused client never sends its body (with `Expect: 100-continue`) or
is answered while still sending it, and nothing is stored. docs/architecture.md, "Request bodies".

Every refusal closes the connection (`Connection: close`): the unread rest of a refused body must
not be parsed as the next request, nor be read to its end."""

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from types import SimpleNamespace

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib import auth
from django.http import HttpResponse, JsonResponse
from django.http.cookie import parse_cookie

from runs.errors import Throttled
from runs.http.errors import NO_CREDENTIALS, envelope, error_response
from runs.token_guard import token_user_guarded
from runs.tokens import bearer_key

# A multipart form carries the archive with its boundaries and part headers: the route's limit
# is the direct-upload limit plus this much; the view then holds the archive to the limit itself.
FORM_ALLOWANCE = 64 * 1024
BAD_TOKEN = (  # as runs/http/auth.py says it
    "The token is invalid or revoked; issue a new one with `manage.py issue_token USERNAME`."
)
S3_MIN_PART = 5 * 1024 * 1024  # S3 refuses parts but the last below this (runs/intake/stores.py)
ARCHIVE_ROUTE = re.compile(r"^/api/v1/workspace-runs/[^/]+/archive$")
CHUNK_ROUTE = re.compile(r"^/api/v1/transfers/[^/]+$")
# Refusals are JSON errors; they show nothing and run nothing in a browser.
REFUSAL_HEADERS = [
    (b"connection", b"close"),
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cache-control", b"no-store"),
]


def refusal(status: int, code: str, message: str, details: dict | None = None) -> JsonResponse:
    return JsonResponse(envelope(code, message, details), status=status)


async def answer(send, response: HttpResponse) -> None:
    """Send a Django response as it is, plus the headers every refusal carries."""
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
    headers += [(b"content-length", str(len(response.content)).encode())] + REFUSAL_HEADERS
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})


# --- what the headers say --------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    declared: int | None  # Content-Length, when the body is framed by one
    chunked: bool
    headers: dict[bytes, bytes]  # repeated headers joined with "," as Django joins them

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.declared)


def bad_framing(message: str) -> JsonResponse:
    return refusal(400, "invalid_request", message, {"header": "Content-Length"})


def read_head(scope) -> Head | JsonResponse:
    """The request's body framing, refused when it is ambiguous (one body read two ways is how
    requests are smuggled past a proxy) or not a number."""
    headers: dict[bytes, bytes] = {}
    lengths, encodings = set(), []
    for name, value in scope.get("headers") or []:
        headers[name] = headers[name] + b"," + value if name in headers else value
        if name == b"content-length":
            lengths.add(value.strip())
        elif name == b"transfer-encoding":
            encodings.append(value.strip().lower())
    if encodings:
        if lengths:
            return bad_framing("Send Content-Length or Transfer-Encoding, not both.")
        if encodings != [b"chunked"]:
            return bad_framing("The only Transfer-Encoding taken is chunked.")
        return Head(None, True, headers)
    if not lengths:
        return Head(None, False, headers)
    value = lengths.pop()
    if lengths or not value.isdigit():
        return bad_framing("Content-Length must be one whole number of bytes.")
    return Head(int(value), False, headers)


# --- the route's body limit ------------------------------------------------------------------


def chunk_limit() -> int:
    chunk = settings.CROWNEST_TRANSFER_CHUNK
    return max(chunk, S3_MIN_PART) if settings.CROWNEST_S3_BUCKET else chunk


def body_limit(path: str) -> tuple[int, Callable[[int | None], JsonResponse]]:
    """The largest body this path takes, and the refusal of a larger one (its size, if known)."""

    def said(size):
        return f" ({size} bytes)" if size is not None else ""

    if ARCHIVE_ROUTE.match(path):
        direct = settings.CROWNEST_DIRECT_UPLOAD_LIMIT
        return direct + FORM_ALLOWANCE, lambda size: refusal(
            413,
            "archive_too_large",
            f"The request body{said(size)} is over the direct-upload limit of {direct} bytes; "
            "send the archive as a staged transfer (POST .../transfers).",
            {"limitBytes": direct, "contentLength": size, "useStagedTransfer": True},
        )
    if CHUNK_ROUTE.match(path):
        chunk = chunk_limit()
        return chunk, lambda size: refusal(
            413,
            "body_too_large",
            f"The request body{said(size)} is larger than a staged-transfer chunk may be "
            f"({chunk} bytes); send chunks of the transfer's chunkSizeBytes.",
            {"limitBytes": chunk, "contentLength": size},
        )
    limit = settings.CROWNEST_MAX_JSON_BODY
    return limit, lambda size: refusal(
        413,
        "body_too_large",
        f"The request body{said(size)} is over this server's limit of {limit} bytes for this "
        "call; archives go through PUT .../archive or a staged transfer, never inside JSON.",
        {"limitBytes": limit, "contentLength": size},
    )


# --- credentials, from the headers alone -----------------------------------------------------


@database_sync_to_async
def token_refusal(key: str | None, address: str) -> JsonResponse | None:
    """The API's own rule (runs/token_guard.py): 429 for an address that sent too many bad
    tokens lately, 401 for a bad token (which counts against the address)."""
    try:
        user = token_user_guarded(key, address)
    except Throttled as exc:
        return error_response(exc)
    return None if user is not None else unauthenticated(BAD_TOKEN)


@database_sync_to_async
def session_valid(session_key: str) -> bool:
    """Django's own session login check (the session's user, active, its password unchanged)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return auth.get_user(SimpleNamespace(session=store)).is_authenticated


def unauthenticated(message: str) -> JsonResponse:
    resp = refusal(401, "not_authenticated", message)
    resp["WWW-Authenticate"] = 'Bearer realm="api"'
    return resp


async def credentials_refusal(scope, headers: dict[bytes, bytes]) -> JsonResponse | None:
    """DRF's order and answers (runs/http/auth.py, errors.py): an Authorization header must be
    a valid bearer token; without one, the session cookie must be signed in."""
    header = headers.get(b"authorization")
    if header is not None:
        address = (scope.get("client") or ("",))[0]  # REMOTE_ADDR, as Django will see it
        return await token_refusal(bearer_key(header.decode("latin-1")), address)
    cookies = parse_cookie(headers.get(b"cookie", b"").decode("latin-1"))
    session_key = cookies.get(settings.SESSION_COOKIE_NAME)
    if session_key and await session_valid(session_key):
        return None
    return unauthenticated(NO_CREDENTIALS)


# --- the guard -------------------------------------------------------------------------------


class MeteredBody:
    """The application's receive and send: the body is counted against its limit (a chunked
    body has no length to check up front) and each wait for a piece of it is timed. A refusal
    answers the client and tells the application that the client has gone."""

    def __init__(self, receive, send, *, head: Head, limit: int, too_large):
        self._receive, self._send = receive, send
        self.head, self.limit, self.too_large = head, limit, too_large
        self.received = 0
        self.complete = False
        self.started = self.answered = False

    async def receive(self):
        if self.answered:
            return {"type": "http.disconnect"}
        if self.complete:  # Django then waits here for a disconnect, for as long as it streams
            return await self._receive()
        try:
            async with asyncio.timeout(settings.CROWNEST_BODY_TIMEOUT_SECONDS):
                message = await self._receive()
        except TimeoutError:
            return await self.refuse(stalled())
        if message["type"] != "http.request":
            return message
        self.received += len(message.get("body", b""))
        if self.received > self.limit:
            return await self.refuse(self.too_large(self.head.declared))
        if self.head.declared is not None and self.received > self.head.declared:
            return await self.refuse(bad_framing("The body is longer than its Content-Length."))
        self.complete = not message.get("more_body", False)
        return message

    async def refuse(self, response: HttpResponse):
        if not self.started:
            await answer(self._send, response)
        self.answered = True
        return {"type": "http.disconnect"}

    async def send(self, message):
        if self.answered:
            return
        self.started = True
        await self._send(message)


def stalled() -> JsonResponse:
    wait = settings.CROWNEST_BODY_TIMEOUT_SECONDS
    return refusal(
        408,
        "request_timeout",
        f"No part of the request body arrived for {wait:g} s, so the request was dropped; "
        "send the body right after the headers (or after 100 Continue) and without pauses.",
        {"timeoutSeconds": wait},
    )


class IngressGuard:
    """ASGI middleware for the "http" scope."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        head = read_head(scope)
        if isinstance(head, HttpResponse):
            return await answer(send, head)
        path = scope.get("path", "")
        limit, too_large = body_limit(path)
        if head.has_body:
            # Only the API needs a user before it reads a body; a sign-in form must not.
            refused = (
                await credentials_refusal(scope, head.headers) if path.startswith("/api/") else None
            )
            if refused is not None:
                return await answer(send, refused)
            if head.declared is not None and head.declared > limit:
                return await answer(send, too_large(head.declared))
        body = MeteredBody(receive, send, head=head, limit=limit, too_large=too_large)
        await self.app(scope, body.receive, body.send)
