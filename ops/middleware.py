"""Two middlewares, each usable by daphne's async handler and the sync one without a thread
hop: the request's context (X-Request-ID in and out, the run id for logs, request metrics) and
the audit of state-changing requests (one row per action, written after the answer is known)."""

import logging
import re
import time
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings

from . import logs, metrics
from .audit import Pending, audit_record, pending
from .audit_routes import WRITES, Fact, facts_for, outcome_of

log = logging.getLogger(__name__)
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
ARCHIVE_CODES = {
    "archive_digest_mismatch",
    "archive_size_mismatch",
    "archive_unsafe",
    "unsupported_archive",
    "archive_too_large",
}


class _Both:
    """The async half runs in daphne's event loop; the sync half under the test client."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        return self._call(request)


def error_code(response) -> str:
    data = getattr(response, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    return str(error.get("code", "")) if isinstance(error, dict) else ""


class RequestContextMiddleware(_Both):
    def __init__(self, get_response):
        super().__init__(get_response)
        # Django adapts a sync process_view to async with a thread hop: give each mode its own.
        self.process_view = self._aprocess_view if self.is_async else self._process_view

    def _begin(self, request) -> float:
        given = request.META.get("HTTP_X_REQUEST_ID", "")
        request.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        logs.request_id.set(request.request_id)
        logs.run_id.set("")
        return time.perf_counter()

    def _end(self, request, response, started: float):
        response["X-Request-ID"] = request.request_id
        if metrics.on():
            match = getattr(request, "resolver_match", None)
            route = "unmatched" if match is None else match.view_name
            route = "admin" if route.startswith("admin:") else route
            metrics.http_requests.labels(route, request.method, str(response.status_code)).inc()
            metrics.http_seconds.labels(route).observe(time.perf_counter() - started)
            if response.status_code >= 400 and (code := error_code(response)) in ARCHIVE_CODES:
                metrics.archive_failures.labels(code).inc()
        return response

    def _call(self, request):
        started = self._begin(request)
        return self._end(request, self.get_response(request), started)

    async def _acall(self, request):
        started = self._begin(request)
        return self._end(request, await self.get_response(request), started)

    def _process_view(self, request, view, args, kwargs):
        run = kwargs.get("run_id")
        if isinstance(run, str) and run.startswith("wr_"):
            logs.run_id.set(run[:64])

    async def _aprocess_view(self, request, view, args, kwargs):
        self._process_view(request, view, args, kwargs)


def audited(request) -> bool:
    return request.method in WRITES and settings.CROWNEST_AUDIT_ENABLED


def audit_request(request, response, notes: Pending) -> None:
    """One row per action the request was (an admin action on three runs: three rows).
    Unauthenticated requests did nothing and are not recorded: a sign-in failure is an action
    of its own (ops/receivers.py), a client retrying with a bad token is not."""
    user = getattr(request, "user", None)
    if response.status_code == 401 or not getattr(user, "is_authenticated", False):
        return
    try:
        facts = facts_for(request, response, notes) or ()
    except Exception:  # the action happened: its answer stands, the gap is in the log
        log.exception("could not tell the audit facts of %s %s", request.method, request.path)
        facts = [Fact(f"request.{request.method.lower()}.unknown")]
    for fact in facts:
        audit_record(
            action=fact.action,
            object_type=fact.object_type,
            object_id=fact.object_id,
            outcome=outcome_of(request, response, fact),
            status_code=response.status_code,
            details=fact.details,
            request=request,
        )


class AuditMiddleware(_Both):
    def _call(self, request):
        if not audited(request):
            return self.get_response(request)
        notes = Pending()
        token = pending.set(notes)
        try:
            response = self.get_response(request)
        finally:
            pending.reset(token)
        audit_request(request, response, notes)
        return response

    async def _acall(self, request):
        if not audited(request):
            return await self.get_response(request)
        notes = Pending()
        token = pending.set(notes)
        try:
            response = await self.get_response(request)
        finally:
            pending.reset(token)
        await sync_to_async(audit_request)(request, response, notes)
        return response
