"""Live output over SSE and the websocket against a real daphne, worker, Redis and Docker."""

import asyncio
import contextlib
import json
import threading

import httpx
import pytest
import websockets

from .helpers import Runs, client_for, make_targz

pytestmark = pytest.mark.docker

FLOOD = 100_000


def sse_events(url: str, token: str | None, *, last_event_id=None, stop_after=None, timeout=120):
    """Read an SSE stream; returns (events, raw lines seen). Stops at the end of the stream or
    after `stop_after` events (a client that drops the connection)."""
    headers = {"Accept": "text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    events, comments, fields = [], [], {}
    with httpx.stream("GET", url, headers=headers, timeout=timeout) as resp:
        if resp.status_code != 200:
            return resp.status_code, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["cache-control"] == "no-cache"
        assert resp.headers["x-accel-buffering"] == "no"
        for line in resp.iter_lines():
            if line.startswith(":"):
                comments.append(line)
            elif line == "":
                if "data" in fields:
                    event = json.loads(fields["data"])
                    assert str(event["seq"]) == fields["id"] and event["type"] == fields["event"]
                    events.append(event)
                    if stop_after and len(events) >= stop_after:
                        break
                fields = {}
            else:
                key, _, value = line.partition(": ")
                fields[key] = value
    return events, comments


def ws_events(url: str, token: str | None, *, stop_after=None, timeout=120):
    async def main():
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        out = []
        async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
            try:
                while True:
                    msg = await asyncio.wait_for(ws.recv(), timeout)
                    out.append(json.loads(msg))
                    if stop_after and len(out) >= stop_after:
                        break
            except websockets.ConnectionClosedOK:
                pass
        return out

    return asyncio.run(main())


def assert_complete(events):
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "terminal"


def flood_lines(events):
    text = "".join(e["data"]["text"] for e in events if e["type"] == "stdout")
    return text.splitlines()


@pytest.fixture
def live(stack, user):
    runs = Runs(client_for(user))
    return stack, runs, stack.token(user)


def stream_url(stack, run_id, after=0):
    return f"{stack.base_url}/api/v1/workspace-runs/{run_id}/events/stream?afterSeq={after}"


def ws_url(stack, run_id, after=0):
    return f"{stack.ws_url}/ws/workspace-runs/{run_id}/events?afterSeq={after}"


def test_flood_arrives_complete_on_sse_and_websocket_live(live):
    stack, runs, token = live
    cmd = f'python3 -c "for i in range({FLOOD}): print(i)"'
    run = runs.submit({"x.txt": "x"}, command=cmd)
    results = {}

    def watch(name, fn):
        results[name] = fn()

    threads = [
        threading.Thread(
            target=watch, args=("sse", lambda: sse_events(stream_url(stack, run["id"]), token)[0])
        ),
        threading.Thread(
            target=watch, args=("ws", lambda: ws_events(ws_url(stack, run["id"]), token))
        ),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert runs.wait(run["id"])["status"] == "succeeded"
    stored = runs.events(run["id"])
    # Output is batched: far fewer events (and commits) than lines.
    assert sum(e["type"] == "stdout" for e in stored) < FLOOD / 20
    for name in ("sse", "ws"):
        events = results[name]
        assert_complete(events)
        assert events == stored, name
        assert flood_lines(events) == [str(i) for i in range(FLOOD)], name


def test_reconnect_with_last_event_id_gets_the_rest_exactly_once(live):
    stack, runs, token = live
    run = runs.submit(
        {"x.txt": "x"}, command="for i in $(seq 1 40); do echo line$i; sleep 0.05; done"
    )
    first, _ = sse_events(stream_url(stack, run["id"]), token, stop_after=8)
    assert len(first) == 8
    rest, _ = sse_events(
        stream_url(stack, run["id"], after=0), token, last_event_id=first[-1]["seq"]
    )
    events = first + rest
    assert_complete(events)
    assert flood_lines(events) == [f"line{i}" for i in range(1, 41)]


def test_two_viewers_and_a_late_joiner_see_the_same_sequence(live):
    stack, runs, token = live
    run = runs.submit(
        {"x.txt": "x"}, command="for i in $(seq 1 30); do echo n$i; echo e$i >&2; sleep 0.03; done"
    )
    results = {}

    def sse():
        results["a"] = sse_events(stream_url(stack, run["id"]), token)[0]

    def ws():
        results["b"] = ws_events(ws_url(stack, run["id"]), token)

    a, b = threading.Thread(target=sse), threading.Thread(target=ws)
    a.start(), b.start()
    runs.wait(run["id"], until=lambda r: r["lastSeq"] > 20)
    results["late"] = sse_events(stream_url(stack, run["id"]), token)[0]
    a.join(60), b.join(60)
    assert_complete(results["a"])
    assert results["a"] == results["b"] == results["late"] == runs.events(run["id"])


def test_finished_run_replays_and_closes(live):
    stack, runs, token = live
    run = runs.submit({"x.txt": "x"}, command="echo done")
    runs.wait(run["id"])
    runs.wait_evidence(run["id"])
    events, _ = sse_events(stream_url(stack, run["id"]), token, timeout=10)
    assert_complete(events)
    assert ws_events(ws_url(stack, run["id"]), token, timeout=10) == events
    tail, _ = sse_events(stream_url(stack, run["id"], after=len(events) - 1), token, timeout=10)
    assert tail == events[-1:]


def test_events_json_identical_across_list_sse_and_websocket(live):
    stack, runs, token = live
    run = runs.submit(
        {"x.txt": "x"}, command="printf 'caf\\303\\251 \\377 \\033[31mred\\033[0m\\n'"
    )
    runs.wait(run["id"])
    listed = httpx.get(
        f"{stack.base_url}/api/v1/workspace-runs/{run['id']}/events",
        params={"limit": 1000},
        headers={"Authorization": f"Bearer {token}"},
    ).text
    raw_list = [
        json.dumps(e, ensure_ascii=False, separators=(",", ":"))
        for e in json.loads(listed)["events"]
    ]
    with httpx.stream(
        "GET", stream_url(stack, run["id"]), headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        raw_sse = [line[6:] for line in resp.iter_lines() if line.startswith("data: ")]

    async def ws_raw():
        async with websockets.connect(
            ws_url(stack, run["id"]), additional_headers={"Authorization": f"Bearer {token}"}
        ) as w:
            return [m async for m in w]

    raw_ws = asyncio.run(ws_raw())
    assert raw_sse == raw_ws == raw_list
    assert ",".join(raw_list) in listed  # listEvents' own bytes, not a re-encoding
    text = "".join(json.loads(r)["data"].get("text", "") for r in raw_list)
    assert "café \ufffd \x1b[31mred" in text


def test_unauthenticated_and_foreign_viewers_are_refused(live, other_user):
    stack, runs, token = live
    run = runs.submit({"x.txt": "x"}, command="true")
    status, body = sse_events(stream_url(stack, run["id"]), None)
    assert status == 401 and json.loads(body)["error"]["code"] == "not_authenticated"
    foreign = stack.token(other_user)
    status, body = sse_events(stream_url(stack, run["id"]), foreign)
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
    for tok, code in ((None, 4401), (foreign, 4404), ("cn_bogus", 4401)):
        with pytest.raises(websockets.ConnectionClosed) as info:
            ws_events(ws_url(stack, run["id"]), tok, timeout=10)
        assert info.value.rcvd.code == code
    runs.wait(run["id"])


def test_websocket_from_a_foreign_origin_is_refused(live):
    stack, runs, token = live
    run = runs.create(make_targz({"x": "y"}))

    async def main():
        async with websockets.connect(
            ws_url(stack, run["id"]),
            origin="http://evil.example",
            additional_headers={"Authorization": f"Bearer {token}"},
        ):
            pass

    with pytest.raises(websockets.InvalidStatus) as info:
        asyncio.run(main())
    assert info.value.response.status_code == 403


def test_redis_restart_mid_run_loses_nothing_after_reconnect(live, private_redis):
    stack, runs, token = live
    run = runs.submit(
        {"x.txt": "x"}, command="for i in $(seq 1 60); do echo tick$i; sleep 0.1; done"
    )
    first, _ = sse_events(stream_url(stack, run["id"]), token, stop_after=10)
    private_redis.restart()
    rest, _ = sse_events(stream_url(stack, run["id"]), token, last_event_id=first[-1]["seq"])
    events = first + rest
    assert_complete(events)
    assert flood_lines(events) == [f"tick{i}" for i in range(1, 61)]
    # The worker lived through the restart (with a run in flight) and still takes new runs.
    again = runs.submit({"x.txt": "x"}, command="echo after-restart")
    assert runs.wait(again["id"], timeout=60)["status"] == "succeeded"


def test_idle_stream_sends_keepalive_comments(live):
    stack, runs, token = live
    run = runs.create(make_targz({"x": "y"}))  # no event follows the first: the stream idles
    headers = {"Authorization": f"Bearer {token}"}
    # The suite's keepalive is every second; a stream silent for 5 s fails with ReadTimeout.
    with httpx.stream("GET", stream_url(stack, run["id"]), headers=headers, timeout=5) as resp:
        seen = []
        for line in resp.iter_lines():
            seen.append(line)
            if line.startswith(":"):
                break
    assert seen[-1] == ": keepalive"
    assert "id: 1" in seen  # the run's one event came first
    assert runs.cancel(run["id"]).status_code == 202


def test_open_streams_do_not_each_hold_a_database_connection(live):
    """Viewers must not be bounded by PostgreSQL's max_connections: a stream's request releases
    its connection once the run is found; the shared readers use a small pool."""
    from django.db import connection

    stack, runs, token = live
    run = runs.create(make_targz({"x": "y"}))  # a stream of it stays open, idle
    headers = {"Authorization": f"Bearer {token}"}

    def connections() -> int:
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            return cur.fetchone()[0]

    before = connections()
    viewers = 20
    with contextlib.ExitStack() as streams:
        for _ in range(viewers):
            resp = streams.enter_context(
                httpx.stream("GET", stream_url(stack, run["id"]), headers=headers, timeout=10)
            )
            lines = resp.iter_lines()
            while next(lines) != "":  # the first event arrived: the stream is set up
                pass
        during = connections()
        ws_during = asyncio.run(
            websocket_viewers(ws_url(stack, run["id"]), token, viewers, connections)
        )
    assert during - before < 8, f"{during - before} connections for {viewers} open streams"
    assert ws_during - before < 8, f"{ws_during - before} connections for {viewers} websockets"
    assert runs.cancel(run["id"]).status_code == 202


async def websocket_viewers(url, token, viewers, count):
    """`count()` with `viewers` websockets open on the run, each past its first event."""
    headers = {"Authorization": f"Bearer {token}"}
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(viewers):
            ws = await stack.enter_async_context(
                websockets.connect(url, additional_headers=headers)
            )
            await asyncio.wait_for(ws.recv(), 10)
        return await asyncio.to_thread(count)
