"""Nothing is read before it is allowed: the web server `make up` runs (crownest_web/serve.py) with
its guard (crownest_web/ingress.py), driven over raw sockets so that each test controls exactly
what is sent and when. Every test checks that the server's temp dir and its open temp files did
not grow (Python's temp files are unlinked at once, so the open files are looked at too)."""

import json
import os
import select
import socket
from http import HTTPStatus
from pathlib import Path

import pytest
from django.conf import settings

from runs.tokens import token_issue

from .helpers import archive_meta, make_targz, web_process

GIB = 1 << 30
TOO_LARGE = f"HTTP/1.1 413 {HTTPStatus(413).phrase}"
pytestmark = pytest.mark.timeout(120)


class TempWatch:
    """The bytes in the server's temp dir plus its open files there (unlinked ones too)."""

    def __init__(self, pid: int, folder: Path):
        self.pid, self.folder = pid, folder

    def used(self) -> int:
        total = sum(f.stat().st_size for f in self.folder.rglob("*") if f.is_file())
        for fd in Path(f"/proc/{self.pid}/fd").iterdir():
            try:
                if os.readlink(fd).startswith(str(self.folder)):
                    total += os.stat(fd).st_size
            except OSError:  # closed meanwhile
                pass
        return total

    def files(self) -> list[str]:
        return sorted(str(f) for f in self.folder.rglob("*"))


@pytest.fixture(scope="module")
def web(django_db_setup, tmp_path_factory):
    """The server on the test database, with a short body timeout and a temp dir of its own."""
    tmp = tmp_path_factory.mktemp("web-tmp")
    env = {"TMPDIR": str(tmp), "CROWNEST_BODY_TIMEOUT_SECONDS": "2"}
    with web_process(tmp_path_factory.mktemp("web"), env) as (proc, _log, base_url):
        yield int(base_url.rsplit(":", 1)[1]), TempWatch(proc.pid, tmp)


@pytest.fixture
def token(transactional_db, django_user_model):
    return token_issue(user=django_user_model.objects.create_user("ingress"))


class Exchange:
    """One connection: headers sent by hand, answers read as they come."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buffer = b""

    def send_head(self, method: str, path: str, headers: dict) -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def response(self) -> tuple[str, dict, bytes]:
        """The next response: status line, headers (lower-case names), body."""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        length = int(headers.get("content-length", 0))
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body

    def closed_by_server(self) -> bool:
        """True once the server has closed (after everything it sent was read)."""
        if self.buffer:
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        self.buffer += data
        return data == b""

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        assert data, f"the server closed the connection; got {self.buffer!r}"
        self.buffer += data

    def send_until_answered(self, total: int) -> int:
        """Send up to `total` body bytes, stopping at the first byte of an answer; the count."""
        sent, piece = 0, b"\0" * 65536
        while sent < total:
            readable, writable, _ = select.select([self.sock], [self.sock], [], 30)
            if readable:
                break
            try:
                sent += self.sock.send(piece[: total - sent])
            except (BrokenPipeError, ConnectionResetError):
                break
        return sent

    def close(self) -> None:
        self.sock.close()


def error(body: bytes) -> dict:
    envelope = json.loads(body)
    assert set(envelope) == {"error"} and set(envelope["error"]) == {"code", "message", "details"}
    return envelope["error"]


@pytest.fixture
def exchange(web):
    opened = []

    def connect():
        opened.append(Exchange(web[0]))
        return opened[-1]

    yield connect
    for conn in opened:
        conn.close()


def test_unauthenticated_put_of_1_gib_is_refused_before_its_body(web, exchange, transactional_db):
    _, watch = web
    before = watch.files()
    conn = exchange()
    conn.send_head(
        "PUT",
        "/api/v1/workspace-runs/wr_01ABCDEFGHJKMNPQRSTVWXYZ00/archive",
        {"Content-Type": "application/gzip", "Content-Length": GIB, "Expect": "100-continue"},
    )
    status, headers, body = conn.response()
    # The final answer, not "100 Continue": the client never sends the body.
    assert status == "HTTP/1.1 401 Unauthorized"
    assert error(body)["code"] == "not_authenticated"
    assert headers["www-authenticate"] == 'Bearer realm="api"'
    assert headers["connection"] == "close" and conn.closed_by_server()
    assert watch.used() == 0 and watch.files() == before


def test_unauthenticated_put_is_answered_while_its_body_is_still_being_sent(
    web, exchange, transactional_db
):
    _, watch = web
    conn = exchange()
    conn.send_head(
        "PUT",
        "/api/v1/transfers/tr_01ABCDEFGHJKMNPQRSTVWXYZ00",
        {"Content-Type": "application/octet-stream", "Content-Length": GIB},
    )
    sent = conn.send_until_answered(GIB)
    status, _, body = conn.response()
    assert status == "HTTP/1.1 401 Unauthorized", status
    assert error(body)["code"] == "not_authenticated"
    assert sent < GIB  # the answer came while the body was still going out
    assert watch.used() == 0


def test_a_bad_token_or_session_is_refused_before_the_body(web, exchange, token):
    for headers, words in (
        ({"Authorization": "Bearer cn_not-a-token"}, "invalid or revoked"),
        ({"Authorization": "Basic YTpi"}, "invalid or revoked"),
        ({"Cookie": f"{settings.SESSION_COOKIE_NAME}=nosuchsession"}, "No credentials"),
    ):
        conn = exchange()
        conn.send_head("POST", "/api/v1/workspace-runs", {"Content-Length": 100, **headers})
        status, _, body = conn.response()
        assert status == "HTTP/1.1 401 Unauthorized"
        assert words in error(body)["message"]


@pytest.mark.parametrize(
    "method, path, length, code, limit",
    [
        (
            "PUT",
            "/api/v1/workspace-runs/wr_01ABCDEFGHJKMNPQRSTVWXYZ00/archive",
            settings.CROWNEST_DIRECT_UPLOAD_LIMIT + (1 << 20),
            "archive_too_large",
            settings.CROWNEST_DIRECT_UPLOAD_LIMIT,
        ),
        (
            "PUT",
            "/api/v1/transfers/tr_01ABCDEFGHJKMNPQRSTVWXYZ00",
            settings.CROWNEST_TRANSFER_CHUNK + 1,
            "body_too_large",
            settings.CROWNEST_TRANSFER_CHUNK,
        ),
        (
            "POST",
            "/api/v1/workspace-runs",
            2_000_000,
            "body_too_large",
            settings.CROWNEST_MAX_JSON_BODY,
        ),
        ("POST", "/accounts/login/", GIB, "body_too_large", settings.CROWNEST_MAX_JSON_BODY),
    ],
)
def test_an_oversized_declared_length_is_refused_at_once(
    web, exchange, token, method, path, length, code, limit
):
    _, watch = web
    conn = exchange()
    headers = {"Authorization": f"Bearer {token}", "Content-Length": length}
    conn.send_head(method, path, headers)  # no body at all, no Expect: the answer comes anyway
    status, headers, body = conn.response()
    assert status == TOO_LARGE, status
    err = error(body)
    assert err["code"] == code
    assert err["details"]["limitBytes"] == limit and err["details"]["contentLength"] == length
    assert err["details"].get("useStagedTransfer", False) is (code == "archive_too_large")
    assert headers["connection"] == "close" and conn.closed_by_server()
    assert watch.used() == 0


def test_a_chunked_body_is_cut_at_the_limit(web, exchange, token):
    _, watch = web
    conn = exchange()
    conn.send_head(
        "POST",
        "/api/v1/workspace-runs",
        {"Authorization": f"Bearer {token}", "Transfer-Encoding": "chunked"},
    )
    piece = b"x" * 65536
    frame = b"%x\r\n" % len(piece) + piece + b"\r\n"
    sent = 0
    for _ in range(settings.CROWNEST_MAX_JSON_BODY // len(piece) + 1):
        conn.sock.sendall(frame)
        sent += len(piece)
    assert sent > settings.CROWNEST_MAX_JSON_BODY
    status, _, body = conn.response()
    assert status == TOO_LARGE
    err = error(body)
    assert err["code"] == "body_too_large" and err["details"]["contentLength"] is None
    assert conn.closed_by_server()
    assert watch.used() == 0


def test_a_body_longer_than_its_content_length_does_not_wedge_the_connection(web, exchange, token):
    conn = exchange()
    conn.send_head(
        "POST",
        "/api/v1/workspace-runs",
        {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Content-Length": 10,
        },
    )
    conn.sock.sendall(b'{"template": "python-node", "command": "true"}' + b" " * 54)
    # The 10 bytes are no JSON, the other 90 no request: the parser's 400 comes at once (it may
    # come before the view's, which is then not sent), and the connection is closed.
    status, headers, body = conn.response()
    assert status == "HTTP/1.1 400 Bad Request" and error(body)["code"] == "invalid_request"
    while not conn.closed_by_server():
        status, headers, body = conn.response()
        assert status == "HTTP/1.1 400 Bad Request" and error(body)["code"] == "invalid_request"
    assert headers["connection"] == "close"
    fresh = exchange()
    fresh.send_head("GET", "/api/v1/templates", {"Authorization": f"Bearer {token}"})
    assert fresh.response()[0] == "HTTP/1.1 200 OK"


@pytest.mark.parametrize(
    "path, auth", [("/api/v1/workspace-runs", True), ("/accounts/login/", False)]
)
def test_a_stalled_body_times_out(web, exchange, token, path, auth):
    """A body shorter than its Content-Length, then silence: 408 after the body timeout (2 s
    here), and the connection is closed; the server answers the next connection."""
    _, watch = web
    conn = exchange()
    headers = {"Content-Type": "application/json", "Content-Length": 100}
    if auth:
        headers["Authorization"] = f"Bearer {token}"
    conn.send_head("POST", path, headers)
    conn.sock.sendall(b'{"template": ')
    status, headers, body = conn.response()
    assert status == "HTTP/1.1 408 Request Timeout"
    err = error(body)
    assert err["code"] == "request_timeout" and err["details"] == {"timeoutSeconds": 2}
    assert headers["connection"] == "close" and conn.closed_by_server()
    assert watch.used() == 0
    fresh = exchange()
    fresh.send_head("GET", "/healthz", {})
    assert fresh.response()[0].startswith("HTTP/1.1 ")


def test_ambiguous_framing_is_refused(web, exchange, token):
    conn = exchange()
    conn.send_head(
        "POST",
        "/api/v1/workspace-runs",
        {"Authorization": f"Bearer {token}", "Content-Length": 5, "Transfer-Encoding": "chunked"},
    )
    status, headers, body = conn.response()
    assert status == "HTTP/1.1 400 Bad Request"
    assert error(body)["code"] == "invalid_request"
    assert headers["connection"] == "close" and conn.closed_by_server()


def upload_with_wrong_digest(port: int, headers: dict) -> tuple[str, dict]:
    """A run created over the API, then its archive PUT with other bytes than declared."""
    data = make_targz({"a.txt": "a"})
    created = Exchange(port)
    payload = json.dumps(
        {"template": "python-node", "command": "true", "archive": archive_meta(data)}
    ).encode()
    base = {"Content-Type": "application/json", **headers}
    created.send_head("POST", "/api/v1/workspace-runs", {**base, "Content-Length": len(payload)})
    created.sock.sendall(payload)
    status, _, body = created.response()
    assert status == "HTTP/1.1 201 Created", body
    run_id = json.loads(body)["id"]
    other = data[:-1] + bytes([data[-1] ^ 1])  # as long, another digest
    put = {
        "Content-Type": "application/gzip",
        "Content-Length": len(other),
        "Expect": "100-continue",
    }
    created.send_head("PUT", f"/api/v1/workspace-runs/{run_id}/archive", {**headers, **put})
    continued, _, _ = created.response()
    assert continued == "HTTP/1.1 100 Continue"  # allowed: now the body is asked for
    created.sock.sendall(other)
    status, _, body = created.response()
    created.close()
    return status, error(body)


def test_a_422_has_its_reason_phrase(web, token):
    status, err = upload_with_wrong_digest(web[0], {"Authorization": f"Bearer {token}"})
    assert status == "HTTP/1.1 422 Unprocessable Entity"
    assert err["code"] == "archive_digest_mismatch"


def test_a_signed_in_browser_uploads_through_the_guard(web, transactional_db, django_user_model):
    from django.test import Client

    browser = Client()
    browser.force_login(django_user_model.objects.create_user("browser"))
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    csrf = "c" * 32  # the double-submit pair DRF's session authentication checks
    headers = {
        "Cookie": f"{settings.SESSION_COOKIE_NAME}={session}; {settings.CSRF_COOKIE_NAME}={csrf}",
        "X-CSRFToken": csrf,
    }
    status, err = upload_with_wrong_digest(web[0], headers)
    assert status == "HTTP/1.1 422 Unprocessable Entity"
    assert err["code"] == "archive_digest_mismatch"


def test_bad_tokens_are_throttled_before_the_body(transactional_db, tmp_path):
    """The API's bad-token rule (runs/token_guard.py) holds before a body is read too: past
    CROWNEST_BAD_TOKEN_RATE bad tokens from one address, 429 without looking the token up."""
    env = {"TMPDIR": str(tmp_path), "CROWNEST_BAD_TOKEN_RATE": "2/min"}
    with web_process(tmp_path / "web", env) as (_proc, _log, base_url):
        port = int(base_url.rsplit(":", 1)[1])
        answers = []
        for _ in range(3):
            conn = Exchange(port)
            headers = {"Authorization": "Bearer cn_wrong", "Content-Length": GIB}
            conn.send_head("PUT", "/api/v1/transfers/tr_01ABCDEFGHJKMNPQRSTVWXYZ00", headers)
            answers.append(conn.response())
            conn.close()
    assert [status for status, _, _ in answers] == [
        "HTTP/1.1 401 Unauthorized",
        "HTTP/1.1 401 Unauthorized",
        "HTTP/1.1 429 Too Many Requests",
    ]
    _, headers, body = answers[-1]
    err = error(body)
    assert err["code"] == "throttled" and err["details"]["reason"] == "bad_credentials"
    assert int(headers["retry-after"]) > 0
