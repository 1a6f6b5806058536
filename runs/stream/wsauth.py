"""Websocket auth: `Authorization: Bearer <token>` on the upgrade request, else the session."""

from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from ..tokens import bearer_key, token_user


class TokenOrSessionAuthMiddleware:
    def __init__(self, inner):
        self.inner = inner
        self.session_stack = AuthMiddlewareStack(inner)

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers") or [])
        header = headers.get(b"authorization")
        if header is None:
            return await self.session_stack(scope, receive, send)
        key = bearer_key(header.decode("latin-1"))
        user = await sync_to_async(token_user)(key) if key else None
        return await self.inner({**scope, "user": user or AnonymousUser()}, receive, send)


class BrowserOriginValidator(OriginValidator):
    """Browsers always send Origin: it must be one of ALLOWED_HOSTS (no cross-site websocket
    hijacking with a session cookie). Token clients send none, and that is fine."""

    def __init__(self, application):
        super().__init__(application, settings.ALLOWED_HOSTS)

    def valid_origin(self, parsed_origin):
        return parsed_origin is None or self.validate_origin(parsed_origin)
