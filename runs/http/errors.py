"""The API's error envelope: {"error": {"code", "message", "details"}}.

Domain errors (runs/errors.py) carry a sentence and details; the error table (error_table.py)
alone decides each one's HTTP status and code. Every error response, DRF or plain view, is built
by `envelope`, and DRF's own refusals are turned into the same envelope here."""

from dataclasses import dataclass

from django.http import JsonResponse
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .. import errors as e
from .error_table import status_and_code
from .shapes import named


@dataclass
class Problem:
    code: str
    message: str
    details: dict


@named("Error")
class ErrorBody(serializers.Serializer):
    code = serializers.CharField(help_text="snake_case, stable: clients branch on it")
    message = serializers.CharField(help_text="what happened and what to do, for a person")
    details = serializers.DictField(help_text="facts of this error: fields, status, limits...")


@named("ErrorEnvelope")
class ErrorOut(serializers.Serializer):
    error = ErrorBody(source="*")


def envelope(code: str, message: str, details: dict | None = None) -> dict:
    return ErrorOut(Problem(code, message, details or {})).data


def _headers(exc: e.DomainError) -> dict:
    if isinstance(exc, e.Throttled | e.QuotaExceeded):
        return {"Retry-After": str(exc.retry_after)}
    return {}


def domain_response(exc: e.DomainError) -> Response:
    status, code = status_and_code(exc)
    return Response(envelope(code, exc.message, exc.details), status=status, headers=_headers(exc))


def error_response(exc: e.DomainError, headers: dict | None = None) -> JsonResponse:
    """The same envelope for plain Django views (SSE, pages' JSON helpers)."""
    status, code = status_and_code(exc)
    resp = JsonResponse(envelope(code, exc.message, exc.details), status=status)
    for key, value in {**_headers(exc), **(headers or {})}.items():
        resp[key] = value
    return resp


def not_authenticated_response() -> JsonResponse:
    resp = JsonResponse(
        envelope(
            "not_authenticated",
            "Sign in, or send `Authorization: Bearer <token>` with a valid, unrevoked token.",
        ),
        status=401,
    )
    resp["WWW-Authenticate"] = 'Bearer realm="api"'
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


def invalid_request(fields: dict) -> e.InvalidRequest:
    """One sentence naming what is wrong (the first problems), and where the rest are."""
    said = [f"{name}: {problems[0]}" for name, problems in sorted(fields.items())[:3]]
    more = f" (and {len(fields) - 3} more)" if len(fields) > 3 else ""
    return e.InvalidRequest(
        f"The request was refused; {'; '.join(said) or 'the body is not valid'}{more}. "
        "Fix these and send it again (details.fields lists every problem).",
        {"fields": fields},
    )


def _from_drf(exc) -> e.DomainError | None:
    if isinstance(exc, exceptions.ValidationError):
        return invalid_request(_flatten(exc.detail))
    if isinstance(exc, exceptions.ParseError):
        return invalid_request({"body": [str(exc.detail)]})
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait or 1)
        return e.Throttled(
            f"Too many requests; wait {wait} s (Retry-After) and try again.", retry_after=wait
        )
    if isinstance(exc, exceptions.NotFound):
        return e.NotFound("resource", "Nothing is at this URL; check the path and the id in it.")
    if isinstance(exc, exceptions.PermissionDenied):
        if "CSRF" in str(exc.detail):
            return e.Forbidden(
                f"{exc.detail} A signed-in browser sends the X-CSRFToken header; API clients "
                "send `Authorization: Bearer <token>` instead.",
                {"reason": "csrf"},
            )
        return e.Forbidden(str(exc.detail))
    return None


def _refusal(exc, context) -> Response | None:
    """DRF's own refusals of a request's form: method, body type, Accept."""
    request = context.get("request")
    if isinstance(exc, exceptions.MethodNotAllowed):
        view = context.get("view")
        allowed = list(view.allowed_methods) if view is not None else []
        method = request.method if request is not None else "This method"
        message = f"{method} is not allowed at this URL; it takes {', '.join(allowed)}."
        resp = Response(envelope("method_not_allowed", message, {"allowed": allowed}), status=405)
        resp["Allow"] = ", ".join(allowed)
        return resp
    if isinstance(exc, exceptions.UnsupportedMediaType):
        ctype = request.content_type if request is not None else ""
        message = (
            f"The body's Content-Type {ctype!r} is not one this call reads; send JSON "
            "(Content-Type: application/json), or see the API schema for this operation."
        )
        return Response(envelope("unsupported_media_type", message, {"contentType": ctype}), 415)
    if isinstance(exc, exceptions.NotAcceptable):
        message = "This call answers in JSON; send Accept: application/json (or */*)."
        return Response(envelope("not_acceptable", message), status=406)
    return None


NO_CREDENTIALS = (
    "No credentials came with the request: send `Authorization: Bearer <token>` (a token from "
    "`manage.py issue_token USERNAME`), or sign in."
)


def exception_handler(exc, context):
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        said = NO_CREDENTIALS if isinstance(exc, exceptions.NotAuthenticated) else str(exc.detail)
        resp = Response(envelope("not_authenticated", said), status=401)
        resp["WWW-Authenticate"] = 'Bearer realm="api"'
        return resp
    refused = _refusal(exc, context)
    if refused is not None:
        return refused
    domain = exc if isinstance(exc, e.DomainError) else _from_drf(exc)
    if domain is not None:
        return domain_response(domain)
    response = drf_exception_handler(exc, context)
    if response is not None:
        code = getattr(exc, "default_code", "error")
        response.data = envelope(code, str(getattr(exc, "detail", exc)))
    return response
