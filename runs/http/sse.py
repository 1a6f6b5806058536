"""GET /api/v1/workspace-runs/{id}/events/stream: Server-Sent Events.

A plain async Django view with an async generator: DRF's content negotiation would refuse
`Accept: text/event-stream`, and daphne buffers sync iterators."""

import asyncio
import time
import weakref

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.http import HttpResponseNotAllowed, StreamingHttpResponse

from ops import metrics

from .. import selectors
from ..errors import InvalidRequest, NotFound, Throttled
from ..stream.feed import SlowViewer, follow
from ..token_guard import token_user_guarded
from ..tokens import bearer_key
from .errors import error_response, not_authenticated_response
from .inputs import cursor_of


async def request_user(request):
    """Bearer token first (API clients), else the session (browsers' EventSource). Throttled
    for an address that sent too many bad tokens (runs/token_guard.py)."""
    header = request.headers.get("Authorization")
    if header:
        address = request.META.get("REMOTE_ADDR", "")
        return await sync_to_async(token_user_guarded)(bearer_key(header), address)
    user = await request.auser()
    return user if user.is_authenticated else None


def cursor(request) -> tuple[int | None, str]:
    """(the seq to replay after, or None if a cursor is not one; the name of that cursor).
    Both are checked; Last-Event-ID wins. An empty one is an EventSource that saw nothing."""
    after = cursor_of(request.GET.get("afterSeq", "0"))
    if after is None:
        return None, "afterSeq"
    last = request.headers.get("Last-Event-ID")
    if last:
        return cursor_of(last, digits=9), "Last-Event-ID"
    return after, "afterSeq"


_setups: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> Semaphore


def setup_slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _setups:
        _setups[loop] = asyncio.Semaphore(settings.CROWNEST_STREAM_SETUPS)
    return _setups[loop]


def release_connections() -> None:
    """Close this thread's connections, but none inside a transaction (a test's own)."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close()


async def event_stream(request, run_id):
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    # A stream's lookups use a connection on this request's own thread, closed before it
    # streams (else each open stream holds one: measured). Bounding how many are set up at
    # once bounds the connections when a thousand viewers open together (measured past
    # PostgreSQL's max_connections otherwise).
    async with setup_slots():
        try:
            return await open_stream(request, run_id)
        finally:
            await sync_to_async(release_connections)()


async def open_stream(request, run_id):
    try:
        user = await request_user(request)
    except Throttled as exc:
        return error_response(exc)
    if user is None:
        return not_authenticated_response()
    run = await sync_to_async(selectors.run_for)(user, run_id)
    if run is None:
        return error_response(NotFound("run"))
    after, name = cursor(request)
    if after is None:
        return error_response(
            InvalidRequest.field(
                name,
                "must be an event seq: a whole number from 0",
                f"{name} must be an event seq (a whole number from 0); resume with the id "
                "of the last event you received.",
            )
        )
    stream = metrics.viewing("sse", frames(run.id, after))
    resp = StreamingHttpResponse(stream, content_type="text/event-stream")
    resp["Cache-Control"] = "no-cache"
    resp["X-Accel-Buffering"] = "no"
    return resp


async def frames(run_id: str, after: int):
    last_sent = time.monotonic()
    yield b"retry: 1000\n\n"
    try:
        async for lines in follow(run_id, after):
            if lines:
                yield "".join(
                    f"id: {seq}\nevent: {kind}\ndata: {body}\n\n" for seq, kind, body in lines
                ).encode()
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent >= settings.CROWNEST_SSE_KEEPALIVE_SECONDS:
                yield b": keepalive\n\n"
                last_sent = time.monotonic()
    except SlowViewer as cut:
        # A comment, then the end: every client resumes from its Last-Event-ID (EventSource by
        # itself), and a parser that knows nothing of this skips it.
        yield slow_viewer_comment(cut.after)


def slow_viewer_comment(after: int) -> bytes:
    return (
        f": slow_viewer: this stream fell behind the run's output and was closed after seq "
        f"{after}; resume with Last-Event-ID: {after} (or afterSeq={after})\n\n"
    ).encode()
