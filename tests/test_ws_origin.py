"""The websocket against the live daphne: a signed-in browser's Origin must match exactly (scheme,
host and port) this site or a trusted origin; its `afterSeq` is read as SSE and listEvents read
theirs; and the sign-in lockout answers through daphne's async stack as it does in-process."""

import asyncio
import json
import re

import httpx
import pytest
import websockets
from django.test import Client

from .helpers import Runs, client_for, make_targz

pytestmark = pytest.mark.docker


@pytest.fixture
def ended(stack, user):
    """A run canceled before its start (its events end with `terminal`), its id and a token."""
    runs = Runs(client_for(user))
    run = runs.create(make_targz({"x": "y"}))
    assert runs.cancel(run["id"]).status_code == 202
    return run["id"], stack.token(user)


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def ws_url(stack, run_id: str, query: str = "afterSeq=0") -> str:
    return f"{stack.ws_url}/ws/workspace-runs/{run_id}/events?{query}"


def connect(url: str, *, origin=None, headers=None) -> tuple[str, object]:
    """("events", [event, ...]) for a stream that ran to its end, ("closed", code) for an
    accepted socket closed with a code, ("refused", HTTP status) for a refused handshake."""

    async def main():
        try:
            async with websockets.connect(
                url, origin=origin, additional_headers=headers or {}, open_timeout=10
            ) as ws:
                out = []
                try:
                    while True:
                        out.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
                except websockets.ConnectionClosedOK as closed:
                    if not out:
                        return "closed", closed.rcvd.code
                    return "events", out
                except websockets.ConnectionClosed as closed:
                    return "closed", closed.rcvd.code
        except websockets.InvalidStatus as refused:
            return "refused", refused.response.status_code

    return asyncio.run(main())


def test_a_browser_origin_must_match_scheme_host_and_port(stack, user, ended):
    run_id, _ = ended
    cookie = {"Cookie": session_cookie(user)}
    port = stack.base_url.rsplit(":", 1)[1]
    url = ws_url(stack, run_id)
    for origin in (
        "http://127.0.0.1:9999",  # another port
        "http://localhost:1",
        "https://127.0.0.1",  # another scheme
        f"https://127.0.0.1:{port}",
        f"http://localhost:{port}",  # another host (this server answers to it, but is not it)
        "http://evil.example",
        "http://127.0.0.1:8001",  # next to the trusted one
        f"http://127.0.0.1:{port}/runs",  # not an origin
        "null",
    ):
        assert connect(url, origin=origin, headers=cookie) == ("refused", 403), origin
    # This very site, and the trusted origin (CSRF_TRUSTED_ORIGINS: http://127.0.0.1:8000).
    for origin in (f"http://127.0.0.1:{port}", "http://127.0.0.1:8000"):
        kind, events = connect(url, origin=origin, headers=cookie)
        assert kind == "events", (origin, kind, events)
        assert events[-1]["type"] == "terminal" and events[0]["seq"] == 1
    # Token clients send no Origin, and a browser's Origin does not stop a valid one either.
    assert connect(url)[0] == "closed"  # no credentials at all: 4401
    assert connect(url, headers=cookie)[0] == "events"


@pytest.mark.parametrize(
    "query", ["afterSeq=1_0", "afterSeq=%2B1", "afterSeq=+1", "afterSeq=%201", "afterSeq=-1",
              "afterSeq=2147483648", "afterSeq=", "afterSeq=1.0", "afterSeq=%EF%BC%91"],
)  # fmt: skip
def test_after_seq_is_refused_as_sse_refuses_it(stack, ended, query):
    run_id, token = ended
    bearer = {"Authorization": f"Bearer {token}"}
    assert connect(ws_url(stack, run_id, query), headers=bearer) == ("closed", 4400)
    base = f"{stack.base_url}/api/v1/workspace-runs/{run_id}"
    for path in ("/events/stream", "/events"):
        resp = httpx.get(f"{base}{path}?{query}", headers=bearer, timeout=10)
        assert resp.status_code == 400, (path, query, resp.text)
        assert "afterSeq" in resp.json()["error"]["details"]["fields"]


def test_after_seq_that_is_a_seq_replays_after_it(stack, ended):
    run_id, token = ended
    bearer = {"Authorization": f"Bearer {token}"}
    kind, everything = connect(ws_url(stack, run_id), headers=bearer)
    assert kind == "events" and len(everything) >= 3
    for query, first in (("afterSeq=2", 3), ("afterSeq=9&afterSeq=2", 3), ("x=1", 1)):
        kind, events = connect(ws_url(stack, run_id, query), headers=bearer)
        assert kind == "events" and events == everything[first - 1 :], query
    kind, code = connect(ws_url(stack, run_id, "afterSeq=2147483647"), headers=bearer)
    assert kind == "closed" and code == 1000  # after the end: nothing, then the close


def test_sign_in_lockout_through_daphne(stack, user, settings):
    """The lockout page comes from axes' async path under daphne as it does in-process."""
    with httpx.Client(base_url=stack.base_url, timeout=10) as browser:

        def attempt(password):
            page = browser.get("/accounts/login/").text
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
            form = {"username": "alice", "password": password, "csrfmiddlewaretoken": token}
            return browser.post("/accounts/login/", data=form)

        codes = [attempt("wrong").status_code for _ in range(settings.AXES_FAILURE_LIMIT)]
        assert codes[:-1] == [200] * (len(codes) - 1) and codes[-1] == 429
        locked = attempt("pw-alice")
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
        assert "Too many failed sign-ins" in locked.text
        assert "sessionid" not in browser.cookies
