"""The websocket's rules in-process (tests/test_ws_origin.py has them against the live daphne):
the Origin match for cases a local daphne cannot show (wss, a TLS proxy, IPv6, wildcard trusted
origins), `afterSeq` read by the one cursor parser, and the bad-token throttle's close code."""

import asyncio

import pytest
from channels.testing import WebsocketCommunicator
from django.core.cache import cache

from crownest_web.asgi import application
from runs.stream.consumers import after_seq
from runs.stream.cursor import cursor_of
from runs.stream.wsauth import origin_allowed

from .helpers import Runs, client_for, make_targz


def scope(origin=None, host="crownest.example:8443", scheme="ws", **headers):
    pairs = [(b"host", host.encode())] if host else []
    if origin is not None:
        pairs.append((b"origin", origin.encode()))
    pairs += [(k.encode(), v.encode()) for k, v in headers.items()]
    return {"type": "websocket", "scheme": scheme, "headers": pairs}


@pytest.fixture
def hosts(settings):
    settings.ALLOWED_HOSTS = ["crownest.example", "[::1]", ".corp.example"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example", "https://*.trusted.example:8443"]


@pytest.mark.parametrize(
    "origin,kw,allowed",
    [
        ("http://crownest.example:8443", {}, True),  # this very site
        ("https://crownest.example:8443", {}, False),  # ws://: the page was http
        ("https://crownest.example:8443", {"scheme": "wss"}, True),
        ("http://crownest.example:8443", {"scheme": "wss"}, False),
        ("http://crownest.example", {}, False),  # port 80 is another origin
        ("http://crownest.example:8443", {"host": "evil.example:8443"}, False),  # not allowed
        ("http://a.corp.example:8443", {"host": "a.corp.example:8443"}, True),
        ("http://[::1]:8000", {"host": "[::1]:8000"}, True),
        ("http://[::1]:8001", {"host": "[::1]:8000"}, False),
        ("https://app.example", {}, True),  # trusted, default port
        ("https://app.example:443", {}, True),
        ("https://app.example:444", {}, False),
        ("http://app.example", {}, False),
        ("https://x.trusted.example:8443", {}, True),
        ("https://trusted.example:8443", {}, True),
        ("https://x.trusted.example", {}, False),
        ("https://x.nottrusted.example:8443", {}, False),
        ("https://app.example/", {}, False),  # not a serialized origin
        ("https://user@app.example", {}, False),
        ("null", {}, False),
        ("", {}, False),
        ("http://crownest.example:99999", {}, False),
    ],
)
def test_origin_match(hosts, origin, kw, allowed):
    assert origin_allowed(scope(origin, **kw)) is allowed


def test_origin_behind_a_tls_proxy(hosts, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    proxied = {"x-forwarded-proto": "https"}
    assert origin_allowed(scope("https://crownest.example:8443", **proxied))
    assert not origin_allowed(scope("http://crownest.example:8443", **proxied))
    assert origin_allowed(scope("http://crownest.example:8443"))


def test_no_origin_passes_and_two_do_not(hosts):
    assert origin_allowed(scope(None))
    two = scope("http://crownest.example:8443")
    two["headers"].append((b"origin", b"http://crownest.example:8443"))
    assert not origin_allowed(two)


@pytest.mark.parametrize(
    "query,after",
    [
        (b"", 0),
        (b"x=1", 0),
        (b"afterSeq=0", 0),
        (b"afterSeq=42", 42),
        (b"afterSeq=9&afterSeq=2", 2),
        (b"afterSeq=2147483647", 2**31 - 1),
        (b"afterSeq=2147483648", None),
        (b"afterSeq=1_0", None),
        (b"afterSeq=%2B1", None),
        (b"afterSeq=+1", None),
        (b"afterSeq=%201", None),
        (b"afterSeq=-1", None),
        (b"afterSeq=", None),
        (b"afterSeq=1e3", None),
        (b"afterSeq=%EF%BC%91", None),  # a fullwidth digit one
        (b"afterSeq=0x10", None),
    ],
)
def test_after_seq_is_read_by_the_one_parser(query, after):
    assert after_seq(query) == after
    raw = query.decode().rpartition("afterSeq=")[2] if b"afterSeq=" in query else None
    if raw is not None and "%" not in raw and "+" not in raw:
        assert cursor_of(raw) == after  # the parser SSE and listEvents use


@pytest.mark.django_db(transaction=True)
def test_bad_tokens_close_the_socket_with_4429(settings, user):
    settings.CROWNEST_BAD_TOKEN_RATE = "3/min"
    cache.clear()
    run = Runs(client_for(user)).create(make_targz({"x": "y"}))
    path = f"/ws/workspace-runs/{run['id']}/events"

    async def close_code(token: str) -> int:
        headers = [(b"authorization", f"Bearer {token}".encode())]
        ws = WebsocketCommunicator(application, path, headers=headers)
        ws.scope["client"] = ("10.3.0.1", 40000)
        connected, _ = await ws.connect(timeout=10)
        assert connected
        out = await ws.receive_output(timeout=10)
        await ws.disconnect()
        return out.get("code")

    try:
        codes = [asyncio.run(close_code("cn_bad")) for _ in range(4)]
        assert codes == [4401, 4401, 4401, 4429]
    finally:
        cache.clear()
