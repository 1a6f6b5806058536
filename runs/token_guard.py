"""Bad bearer tokens, counted per client address (API, SSE and websocket alike).

Past CROWNEST_BAD_TOKEN_RATE failures ("30/min") from one address, a request that carries a
token is refused with Throttled (429 `throttled`, Retry-After) before the token is looked up,
until the oldest failure in the period has aged out. Requests without credentials do not count
(they are answered 401 at no cost), and a good token never adds to the count.

The counts live in Django's cache, as DRF's own rate limits do: per web process unless CACHES
names a shared cache."""

import math
import time

from django.conf import settings
from django.core.cache import cache

from .errors import Throttled
from .tokens import token_user

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _rate() -> tuple[int, int]:
    """CROWNEST_BAD_TOKEN_RATE as (failures, seconds): "30/min" is (30, 60)."""
    count, _, period = settings.CROWNEST_BAD_TOKEN_RATE.partition("/")
    return int(count), PERIODS[period.strip()[:1]]


def _key(address: str) -> str:
    return f"crownest:bad-token:{address}"


def _recent(address: str, period: int, now: float) -> list[float]:
    """This address's failures within the period, newest first."""
    return [t for t in cache.get(_key(address), []) if t > now - period]


def bad_token_wait(address: str) -> int:
    """Seconds until this address may present a token again (0: now)."""
    limit, period = _rate()
    now = time.time()
    recent = _recent(address, period, now)
    if len(recent) < limit:
        return 0
    oldest = recent[limit - 1]
    return max(1, math.ceil(oldest + period - now))


def bad_token_failed(address: str) -> None:
    limit, period = _rate()
    now = time.time()
    cache.set(_key(address), [now, *_recent(address, period, now)][: max(limit, 1)], period)


def token_user_guarded(key: str | None, address: str):
    """The active user of a token (None for a bad one, which counts against the address);
    Throttled when the address has sent too many bad tokens lately."""
    wait = bad_token_wait(address)
    if wait:
        raise Throttled(
            f"Too many requests with an invalid or revoked token came from your address; wait "
            f"{wait} s (Retry-After), then send a valid token.",
            {"reason": "bad_credentials"},
            retry_after=wait,
        )
    user = token_user(key) if key else None
    if user is None:
        bad_token_failed(address)
    return user
