"""Fixtures shared by the suite: users, API clients, archives, and one live Celery worker.

Tests that execute runs use a real Celery worker process (against the test database, real Redis
and the real Docker engine), started once per session and shared."""

import contextlib
import gzip
import hashlib
import io
import os
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from runs.tokens import token_issue

ROOT = Path(__file__).resolve().parent.parent

# The worker's settings for the suite: short heartbeats and grace, small caps to reach limits.
WORKER_ENV = {
    "CROWNEST_HEARTBEAT_SECONDS": "1",
    "CROWNEST_SSE_KEEPALIVE_SECONDS": "1",
    "CROWNEST_STOP_GRACE_SECONDS": "2",
    "CROWNEST_OUTPUT_LIMIT": str(4 * 1024 * 1024),
    "CROWNEST_SANDBOX_MEMORY": "256m",
    "CROWNEST_SANDBOX_PIDS": "64",
    "CROWNEST_SANDBOX_TMP_SIZE": "16m",
    "CROWNEST_ARTIFACT_MAX_BYTES": str(1024 * 1024),
}


def make_targz(files: dict[str, bytes | str], *, extra=None) -> bytes:
    """A .tar.gz from {path: content}; `extra` is a list of TarInfo (links, dirs, devices…)."""
    buf = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if name.endswith(".sh") else 0o644
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info)
    return buf.getvalue()


def archive_meta(data: bytes, filename="repo.tgz") -> dict:
    return {
        "sizeBytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "filename": filename,
    }


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="pw-alice")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="mallory", password="pw-mallory")


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user)}")
    return client


@pytest.fixture
def api(user):
    return client_for(user)


@pytest.fixture
def other_api(other_user):
    return client_for(other_user)


class Runs:
    """Drives runs through the public API the way a client does."""

    def __init__(self, api: APIClient):
        self.api = api

    def create(self, data: bytes, command="true", **fields) -> dict:
        body = {"template": "python-node", "command": command, "archive": archive_meta(data)}
        body.update(fields)
        resp = self.api.post("/api/v1/workspace-runs", body, format="json")
        assert resp.status_code == 201, resp.content
        return resp.json()

    def upload(self, run_id: str, data: bytes):
        return self.api.put(
            f"/api/v1/workspace-runs/{run_id}/archive", data, content_type="application/gzip"
        )

    def start(self, run_id: str):
        return self.api.post(f"/api/v1/workspace-runs/{run_id}/start")

    def get(self, run_id: str) -> dict:
        return self.api.get(f"/api/v1/workspace-runs/{run_id}").json()

    def submit(self, files: dict, command="true", **fields) -> dict:
        data = make_targz(files)
        run = self.create(data, command, **fields)
        assert self.upload(run["id"], data).status_code == 200
        resp = self.start(run["id"])
        assert resp.status_code == 202, resp.content
        return resp.json()

    def wait(self, run_id: str, timeout=90, until=None) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.get(run_id)
            done = until(run) if until else run["status"] in ("succeeded", "failed", "canceled")
            if done:
                return run
            time.sleep(0.2)
        raise AssertionError(f"run {run_id} still {self.get(run_id)['status']} after {timeout}s")

    def wait_evidence(self, run_id: str, timeout=30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            resp = self.api.get(f"/api/v1/workspace-runs/{run_id}/evidence")
            if resp.status_code == 200:
                return resp.json()
            time.sleep(0.2)
        raise AssertionError(f"no evidence for {run_id}")

    def events(self, run_id: str) -> list[dict]:
        out, after = [], 0
        while True:
            page = self.api.get(
                f"/api/v1/workspace-runs/{run_id}/events", {"afterSeq": after, "limit": 1000}
            ).json()
            out += page["events"]
            after = page["nextAfterSeq"]
            if not page["hasMore"]:
                return out

    def output(self, run_id: str, stream="stdout") -> str:
        return "".join(e["data"]["text"] for e in self.events(run_id) if e["type"] == stream)


@pytest.fixture
def runs(api):
    return Runs(api)


def _database_url() -> str:
    db = settings.DATABASES["default"]
    assert "postgresql" in db["ENGINE"], "the live worker needs PostgreSQL (set DATABASE_URL)"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextlib.contextmanager
def service(argv: list[str], folder: Path, ready, extra_env: dict | None = None):
    """A process of the stack (worker, daphne) on the test database; ready(log) says it is up."""
    log = folder / "out.log"
    env = {
        **os.environ,
        **WORKER_ENV,
        **(extra_env or {}),
        "DATABASE_URL": _database_url(),
        "CROWNEST_MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not ready(log):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{argv[2]} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield proc, log
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def worker_process(queue: str, folder: Path, extra_env: dict | None = None, concurrency=3):
    """A Celery worker consuming `queue`, as a context manager yielding (process, log path)."""
    argv = [sys.executable, "-m", "celery", "-A", "crownest_web", "worker"]
    argv += ["--concurrency", str(concurrency), "--loglevel", "INFO", "-Q", queue]
    argv += ["-n", f"{queue}@%h", "--without-gossip", "--without-mingle"]
    return service(argv, folder, lambda log: b"ready." in log.read_bytes(), extra_env)


@pytest.fixture(scope="session")
def live_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """One real Celery worker for the session, on the test database."""
    folder = tmp_path_factory.mktemp("worker")
    with worker_process(settings.CELERY_TASK_DEFAULT_QUEUE, folder) as (proc, log):
        yield proc
    if os.environ.get("CROWNEST_SHOW_WORKER_LOG"):
        sys.stderr.write(log.read_text()[-int(os.environ["CROWNEST_SHOW_WORKER_LOG"]) :])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_port() -> int:
    return urlparse(settings.REDIS_URL).port or 6379


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", _redis_port()), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class PrivateRedis:
    """The suite's own redis-server (on REDIS_URL's port), so one test may restart it."""

    def __init__(self):
        self.proc = None

    def start(self):
        if _redis_answers():
            return
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(_redis_port()),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _redis_answers():
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def restart(self):
        assert self.proc is not None, "REDIS_URL must point at the suite's own Redis (make test)"
        self.stop()
        self.start()

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture(scope="session", autouse=True)
def private_redis():
    """With `make test`, REDIS_URL names a port of the suite's own; start Redis there."""
    redis = PrivateRedis()
    if _redis_port() != 6379:
        redis.start()
    yield redis
    redis.stop()


class Stack:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.ws_url = "ws" + base_url[4:]

    def token(self, user) -> str:
        return token_issue(user=user)


@pytest.fixture(scope="session")
def live_stack(live_worker, tmp_path_factory):
    """daphne (HTTP, SSE, websockets) in its own process, on the test database."""
    port = free_port()
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    argv += ["crownest_web.asgi:application"]

    def listening(_log):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    with service(argv, tmp_path_factory.mktemp("web"), listening):
        yield Stack(f"http://127.0.0.1:{port}")


@pytest.fixture
def stack(live_stack, worker):
    """A test against the live stack: daphne + worker, committed data."""
    return live_stack


def wait_for_idle_worker(timeout=60):
    """Cancel what a test left running and wait until the worker's last write for every run
    (the phases it records after the Evidence Bundle) is done. The database is flushed between
    tests, and a flush that races the worker's writes deadlocks in PostgreSQL."""
    from runs.models import Run
    from runs.services import run_cancel

    S = Run.Status
    for run in Run.objects.filter(status__in=[S.AWAITING_ARCHIVE, S.READY, S.QUEUED, S.RUNNING]):
        try:
            run_cancel(run=run)
        except Exception:  # it ended meanwhile
            pass
    busy = Run.objects.filter(status__in=[S.QUEUED, S.RUNNING]) | Run.objects.filter(
        status__in=Run.TERMINAL, worker__gt=""
    ).exclude(phases__has_key="evidence")
    deadline = time.monotonic() + timeout
    while busy.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture
def worker(live_worker, transactional_db):
    """A test that runs sandboxes: committed data (the worker is another process) and the worker."""
    yield live_worker
    wait_for_idle_worker()


@pytest.fixture(scope="session")
def docker_client():
    import docker

    return docker.from_env()


def run_containers(docker_client, run_id: str):
    return docker_client.containers.list(all=True, filters={"label": f"org.crownest.run={run_id}"})
