"""Logs that name the run: with CROWNEST_LOG_FORMAT=json one JSON object per line carrying
request_id, run_id and worker_host where known; the default text stays readable with the same
names appended. A worker's JSON lines are checked on a live worker in tests/test_prometheus.py."""

import io
import json
import logging

import pytest

from ops import logs

pytestmark = pytest.mark.django_db


@pytest.fixture
def captured():
    """django.request's lines, as the web process writes them (the settings' filter, json)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logs.add_context_to(handler, json=True)
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def test_a_request_log_line_is_json_with_its_request_and_run(api, captured):
    resp = api.get("/api/v1/workspace-runs/wr_01NOSUCHRUN", HTTP_X_REQUEST_ID="req-42")
    assert resp.status_code == 404 and resp["X-Request-ID"] == "req-42"
    [line] = [json.loads(text) for text in captured.getvalue().splitlines()]
    assert line["level"] == "WARNING" and line["logger"] == "django.request"
    assert line["request_id"] == "req-42" and line["run_id"] == "wr_01NOSUCHRUN"
    assert "Not Found" in line["message"] and line["time"].endswith("+00:00")
    assert "worker_host" not in line  # the web process is no worker host


def record(message: str, exc: bool = False) -> logging.LogRecord:
    rec = logging.LogRecord("runs.worker", logging.ERROR, __file__, 1, message, (), None)
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            import sys

            rec.exc_info = sys.exc_info()
    logs.ContextFilter().filter(rec)
    return rec


def test_worker_lines_name_the_run_and_host_in_json_and_text():
    logs.worker_host_set("host-a")
    run_token, req_token = logs.run_id.set("wr_01ABC"), logs.request_id.set("")
    try:
        line = json.loads(logs.JsonFormatter().format(record("sandbox error", exc=True)))
        assert line["run_id"] == "wr_01ABC" and line["worker_host"] == "host-a"
        assert "request_id" not in line and "ValueError: boom" in line["exception"]
        text = logs.TextFormatter().format(record("sandbox error", exc=True))
        first, *rest = text.splitlines()
        assert first == "sandbox error [run_id=wr_01ABC worker_host=host-a]"
        assert rest[-1] == "ValueError: boom"
    finally:
        logs.worker_host_set("")
        logs.run_id.reset(run_token)
        logs.request_id.reset(req_token)
    plain = logs.TextFormatter().format(record("nothing known"))
    assert plain == "nothing known"  # the default text is the message, as before
