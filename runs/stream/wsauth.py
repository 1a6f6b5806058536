"""Websocket auth: `Authorization: Bearer <token>` on the upgrade request, else the session; and
the Origin check that keeps other sites' pages from riding a signed-in browser's session."""

from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import is_same_domain, split_domain_port, validate_host

from ..errors import Throttled
from ..token_guard import token_user_guarded
from ..tokens import bearer_key

DEFAULT_PORTS = {"http": 80, "https": 443}


class TokenOrSessionAuthMiddleware:
    def __init__(self, inner):
        self.inner = inner
        self.session_stack = AuthMiddlewareStack(inner)

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers") or [])
        header = headers.get(b"authorization")
        if header is None:
            return await self.session_stack(scope, receive, send)
        address = (scope.get("client") or ("", 0))[0] or ""
        try:
            key = bearer_key(header.decode("latin-1"))
            user = await sync_to_async(token_user_guarded)(key, address)
        except Throttled as exc:  # too many bad tokens from this address: the consumer says so
            scope = {**scope, "throttled": exc.retry_after}
            user = None
        return await self.inner({**scope, "user": user or AnonymousUser()}, receive, send)


def origin_parts(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a serialized origin ("https://example.com:8443"), the port filled
    in from the scheme; None for anything that is not one (a path, userinfo, "null")."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def _scheme(scope, headers: dict) -> str:
    """The scheme the browser used: wss, or https at a TLS proxy that says so (as for Django)."""
    if scope.get("scheme") == "wss":
        return "https"
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name = proxy[0].removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1")
        if headers.get(name, b"").decode("latin-1").split(",")[0].strip() == proxy[1]:
            return "https"
    return "http"


def _same_origin(scope, headers: dict, origin: tuple[str, str, int]) -> bool:
    """The page came from the very site the socket is on: scheme, host and port of the Host
    header, a host that ALLOWED_HOSTS names (as Django checks it for every request)."""
    host = headers.get(b"host", b"").decode("latin-1")
    domain, port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    scheme = _scheme(scope, headers)
    try:
        port_number = int(port) if port else DEFAULT_PORTS[scheme]
    except ValueError:
        return False
    return origin == (scheme, domain.strip("[]"), port_number)  # urlsplit drops IPv6 brackets


def _trusted(origin: tuple[str, str, int]) -> bool:
    """One of CSRF_TRUSTED_ORIGINS exactly (scheme, host, port); `https://*.example.com` names
    the subdomains, as it does for Django's CSRF check."""
    scheme, host, port = origin
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        wildcard = "://*." in entry
        allowed = origin_parts(entry.replace("://*.", "://", 1))
        if allowed is None or allowed[0] != scheme or allowed[2] != port:
            continue
        if host == allowed[1] or (wildcard and is_same_domain(host, "." + allowed[1])):
            return True
    return False


def origin_allowed(scope) -> bool:
    """No Origin (token clients, which send none) passes; a browser's Origin must be this very
    site or a trusted origin, matched exactly: another scheme or port is another origin."""
    origins = [v for k, v in scope.get("headers") or [] if k == b"origin"]
    if not origins:
        return True
    if len(origins) > 1:
        return False
    origin = origin_parts(origins[0].decode("latin-1"))
    if origin is None:
        return False
    headers = dict(scope.get("headers") or [])
    return _same_origin(scope, headers, origin) or _trusted(origin)


class BrowserOriginValidator:
    """Refuses the upgrade (403) of a websocket whose Origin is not allowed (origin_allowed)."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
