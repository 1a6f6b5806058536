"""The live stack's processes (a Celery worker, the web server, the suite's own Redis) on the
test database, and waiting for the worker to be idle before the flush."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings

from runs.tokens import token_issue

from .net import free_port, port_open
from .waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "crownest")  # the installed command line

# The worker's settings for the suite: short heartbeats and grace, small caps to reach limits.
WORKER_ENV = {
    "CROWNEST_HEARTBEAT_SECONDS": "1",
    "CROWNEST_SSE_KEEPALIVE_SECONDS": "1",
    "CROWNEST_STOP_GRACE_SECONDS": "2",
    "CROWNEST_OUTPUT_LIMIT": str(4 * 1024 * 1024),
    "CROWNEST_SANDBOX_MEMORY": "256m",
    "CROWNEST_SANDBOX_PIDS": "64",
    "CROWNEST_SANDBOX_TMP_SIZE": "16m",
    "CROWNEST_SANDBOX_DISK": "128m",
    "CROWNEST_ARTIFACT_MAX_BYTES": str(1024 * 1024),
    # The suite drives the reaper itself (tests/test_reaper.py); a background pass would race it.
    "CROWNEST_REAPER_INTERVAL": "0",
    # The database is flushed between tests: the host records itself again within a second.
    "CROWNEST_HOST_HEARTBEAT_SECONDS": "1",
    # Every client of the live stack is 127.0.0.1, and schemathesis alone sends an invalid token
    # per operation: tests/test_throttle.py tests the bad-token limit itself, in-process.
    "CROWNEST_BAD_TOKEN_RATE": "100000/min",
}

# A command whose output takes about two seconds, for streams that are cut or resumed.
LINES = "for i in $(seq 1 40); do echo line$i; sleep 0.05; done"


def database_url() -> str:
    db = settings.DATABASES["default"]
    assert "postgresql" in db["ENGINE"], "the live worker needs PostgreSQL (set DATABASE_URL)"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def started(proc: subprocess.Popen, what: str, log: Path, ready: Callable[[], bool], timeout=60):
    """Wait until `ready()`; fail at once (with the log's tail) if the process exits first."""

    def up():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        return ready()

    wait_until(
        up,
        timeout=timeout,
        interval=0.1,
        message=lambda: f"{what} did not start:\n{log.read_text()[-3000:]}",
    )


@contextlib.contextmanager
def service(argv: list[str], folder: Path, ready, extra_env: dict | None = None):
    """A process of the stack (worker, web) on the test database; ready(log) says it is up."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "out.log"
    env = {
        **os.environ,
        **WORKER_ENV,
        # libpq names the process's connections (pg_stat_activity.application_name)
        "PGAPPNAME": f"crownest-{Path(argv[2]).name}",
        "DATABASE_URL": database_url(),
        "CROWNEST_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        **(extra_env or {}),
    }
    with open(log, "wb") as out:
        # A session of its own: at the end its whole group goes, so no pool process of a worker
        # stopped mid-shutdown lives on to take the next test's tasks.
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        started(proc, argv[2], log, lambda: ready(log))
        yield proc, log
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def worker_process(
    queue: str, folder: Path, extra_env: dict | None = None, concurrency=3, name: str = ""
):
    """A Celery worker consuming `queue`, as a context manager yielding (process, log path)."""
    argv = [sys.executable, "-m", "celery", "-A", "crownest_web", "worker"]
    argv += ["--concurrency", str(concurrency), "--loglevel", "INFO", "-Q", queue]
    argv += ["-n", f"{name or queue}@%h", "--without-gossip", "--without-mingle"]
    return service(argv, folder, lambda log: b"ready." in log.read_bytes(), extra_env)


def web_process(folder: Path, extra_env: dict | None = None):
    """The web server `make up` runs (crownest_web/serve.py: HTTP, SSE, websockets) on a free
    port; yields (process, log, base URL)."""
    port = free_port()
    argv = [sys.executable, "-m", "crownest_web.serve", "--host", "127.0.0.1", "--port", str(port)]

    @contextlib.contextmanager
    def running():
        with service(argv, folder, lambda _log: port_open(port), extra_env) as (proc, log):
            yield proc, log, f"http://127.0.0.1:{port}"

    return running()


daphne_process = web_process  # the name its callers knew it by


class Stack:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.ws_url = "ws" + base_url[4:]

    def token(self, user) -> str:
        return token_issue(user=user)


def redis_port() -> int:
    return urlparse(settings.REDIS_URL).port or 6379


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", redis_port()), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class PrivateRedis:
    """The suite's own redis-server (on REDIS_URL's port), so one test may restart it."""

    def __init__(self):
        self.proc = None

    def start(self):
        if redis_answers():
            return
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(redis_port()),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_until(redis_answers, timeout=10, interval=0.05, message="redis-server did not start")

    def restart(self):
        assert self.proc is not None, "REDIS_URL must point at the suite's own Redis (make test)"
        self.stop()
        self.start()

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


def busy_runs():
    """Runs a worker (or the reaper) is still writing: waiting or running, or ended but not done
    ending (the Evidence Bundle, written by the worker even for a run the API ended before it
    started), or ended by a worker that has yet to record its phases (its last write)."""
    from django.db.models import Q

    from runs.models import Run

    S = Run.Status
    lost = Q(failure_reason=Run.Failure.LOST_WORKER)  # its worker is gone: the reaper ended it
    ended = Run.objects.filter(status__in=Run.TERMINAL)
    return (
        Run.objects.filter(status__in=[S.QUEUED, S.RUNNING])
        | ended.filter(ending_done_at__isnull=True)
        | ended.filter(worker__gt="").exclude(Q(phases__has_key="evidence") | lost)
    )


def wait_for_idle_worker(timeout=60):
    """Cancel what a test left running and wait until every worker's last write for every run
    is done (see busy_runs): the database is flushed between tests, and the flush must not
    race them (tests/quiet.py)."""
    from runs.models import Run
    from runs.services import run_cancel

    S = Run.Status
    for run in Run.objects.filter(status__in=[S.AWAITING_ARCHIVE, S.READY, S.QUEUED, S.RUNNING]):
        try:
            run_cancel(run=run)
        except Exception:  # it ended meanwhile
            pass
    wait_until(
        lambda: not busy_runs().exists(),
        timeout=timeout,
        interval=0.1,
        message=lambda: (
            f"the workers are still busy with {list(busy_runs().values_list('id', 'status'))}"
        ),
    )
