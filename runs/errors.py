"""One error shape for the whole API: {"error": {"code", "message", "details"}}."""

from django.http import JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .archives import ArchiveError
from .lifecycle import InvalidTransition


class ApiError(Exception):
    def __init__(self, status_code: int, code: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.status = status_code
        self.code = code
        self.message = message
        self.details = details or {}


def not_found(what: str = "run") -> ApiError:
    return ApiError(404, "not_found", f"No such {what}.")


def invalid_state(exc: InvalidTransition) -> ApiError:
    return ApiError(
        409,
        "invalid_state",
        f"This action does not fit a run that is {exc.status}.",
        {"status": exc.status, "allowed": exc.allowed},
    )


def body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(status_code, code, message, details=None, headers=None) -> JsonResponse:
    resp = JsonResponse(body(code, message, details), status=status_code)
    for key, value in (headers or {}).items():
        resp[key] = value
    return resp


def _flatten(detail, prefix=""):
    """DRF's nested validation errors -> {"field.path": ["message", ...]} with camelCase names."""
    if isinstance(detail, dict):
        out = {}
        for key, value in detail.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(detail, list) and detail and isinstance(detail[0], dict | list):
        out = {}
        for i, value in enumerate(detail):
            out.update(_flatten(value, f"{prefix}[{i}]"))
        return out
    items = detail if isinstance(detail, list) else [detail]
    return {prefix or "body": [str(x) for x in items]}


def exception_handler(exc, context):
    if isinstance(exc, ApiError | ArchiveError):
        return Response(body(exc.code, exc.message, exc.details), status=exc.status)
    if isinstance(exc, InvalidTransition):
        err = invalid_state(exc)
        return Response(body(err.code, err.message, err.details), status=err.status)
    if isinstance(exc, exceptions.ValidationError | exceptions.ParseError):
        detail = exc.detail if isinstance(exc, exceptions.ValidationError) else str(exc.detail)
        fields = _flatten(detail)
        return Response(
            body("invalid_request", "The request body is not valid.", {"fields": fields}),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        resp = Response(
            body("not_authenticated", str(exc.detail)), status=status.HTTP_401_UNAUTHORIZED
        )
        resp["WWW-Authenticate"] = 'Bearer realm="api"'
        return resp
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait or 1)
        resp = Response(
            body("throttled", "Too many requests; try again later.", {"retryAfterSeconds": wait}),
            status=429,
        )
        resp["Retry-After"] = str(wait)
        return resp
    if isinstance(exc, exceptions.NotFound):
        return Response(body("not_found", "Not found."), status=404)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return Response(body("unsupported_media_type", str(exc.detail)), status=415)
    response = drf_exception_handler(exc, context)
    if response is not None:
        code = getattr(exc, "default_code", "error")
        response.data = body(code, str(getattr(exc, "detail", exc)))
    return response
