"""API tokens: issued once, stored hashed, looked up by the API, SSE and the websocket alike."""

import secrets
from datetime import timedelta

from django.utils import timezone

from .models import ApiToken

TOKEN_PREFIX = "cn_"
LAST_USED_PRECISION = timedelta(minutes=1)


def token_issue(*, user, name: str = "") -> str:
    """Create a token and return it; only its hash is stored, so this is the only time it shows."""
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, name=name, prefix=key[:10], key_hash=ApiToken.hash_key(key))
    return key


def token_user(key: str):
    """The active user of a token, or None."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=ApiToken.hash_key(key), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    # At most one write a minute per token: a thousand streams opening with one token would
    # otherwise queue on its row's lock, one commit each (measured: seconds per thousand).
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def bearer_key(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()
