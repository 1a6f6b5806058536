"""What the suite's test modules share besides fixtures: archive builders, API drivers, the one
polling helper, and the processes of the live stack. Test modules import from here, never from
each other or from conftest.py (which holds fixtures only)."""

import contextlib
import gzip
import hashlib
import io
import os
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings
from django.db import transaction
from rest_framework.test import APIClient

from runs.tokens import token_issue

ROOT = Path(__file__).resolve().parent.parent
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


# --- waiting --------------------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], object],
    *,
    timeout: float = 30,
    interval: float = 0.2,
    message: str | Callable[[], str] = "condition not met",
):
    """Call `predicate` until it returns something truthy and return that; after `timeout`
    seconds raise AssertionError with `message` (a callable is called then, so it can describe
    the state at the end). An exception from the predicate ends the wait at once."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"{text} (waited {timeout} s)")
        time.sleep(interval)


# --- archives and API clients ---------------------------------------------------------------


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


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user)}")
    return client


def error_of(resp) -> dict:
    """The error envelope of an API answer, checked to be exactly {code, message, details}."""
    body = resp.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]


TERMINAL = ("succeeded", "failed", "canceled")


class Runs:
    """Drives runs through the public API the way a client does."""

    def __init__(self, api: APIClient):
        self.api = api

    def create(self, data: bytes, command="true", **fields) -> dict:
        """A run awaiting its archive, to upload into: reuse is off unless `reuseArchive=True`
        (tests/test_reuse.py covers reuse; here the same bytes are uploaded run after run)."""
        body = {"template": "python-node", "command": command, "archive": archive_meta(data)}
        body["reuseArchive"] = False
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

    def cancel(self, run_id: str):
        return self.api.post(f"/api/v1/workspace-runs/{run_id}/cancel")

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
        """The run once `until(run)` holds (by default: once it has ended)."""
        done = until or (lambda run: run["status"] in TERMINAL)

        def check():
            run = self.get(run_id)
            return run if done(run) else None

        return wait_until(
            check,
            timeout=timeout,
            message=lambda: f"run {run_id} still {self.get(run_id)['status']}",
        )

    def wait_evidence(self, run_id: str, timeout=30) -> dict:
        def bundle():
            resp = self.api.get(f"/api/v1/workspace-runs/{run_id}/evidence")
            return resp.json() if resp.status_code == 200 else None

        return wait_until(bundle, timeout=timeout, message=f"no evidence for {run_id}")

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


class Staged:
    """A client of the staged-transfer endpoints."""

    def __init__(self, api: APIClient):
        self.api = api

    def run(self, data: bytes, command="true", **archive) -> dict:
        body = {
            "template": "python-node",
            "command": command,
            "archive": {**archive_meta(data), **archive},
            "reuseArchive": False,  # these tests upload the same bytes run after run
        }
        resp = self.api.post("/api/v1/workspace-runs", body, format="json")
        assert resp.status_code == 201, resp.content
        return resp.json()

    def create(self, run_id: str, mode: str | None = None) -> dict:
        body = {"mode": mode} if mode else None
        resp = self.api.post(f"/api/v1/workspace-runs/{run_id}/transfers", body, format="json")
        assert resp.status_code == 201, resp.content
        return resp.json()

    def put(self, transfer: dict, data: bytes, start: int, header: str | None = None, **extra):
        piece = data[start : start + transfer["chunkSizeBytes"]]
        if header is None:
            header = f"bytes {start}-{start + len(piece) - 1}/{len(data)}"
        return self.api.generic(
            "PUT",
            transfer["uploadUrl"],
            extra.pop("body", piece),
            content_type="application/octet-stream",
            HTTP_CONTENT_RANGE=header,
            **extra,
        )

    def send_all(self, transfer: dict, data: bytes, start: int = 0) -> dict:
        for offset in range(start, len(data), transfer["chunkSizeBytes"]):
            resp = self.put(transfer, data, offset)
            assert resp.status_code == 200, resp.content
        return resp.json()

    def get(self, transfer: dict):
        return self.api.get(f"/api/v1/transfers/{transfer['id']}")

    def complete(self, transfer: dict):
        return self.api.post(f"/api/v1/transfers/{transfer['id']}/complete")

    def delete(self, transfer: dict):
        return self.api.delete(f"/api/v1/transfers/{transfer['id']}")


def to_queue(queue: str):
    """Stands in for execute_run.delay_on_commit, sending the task to a private worker."""
    from runs import tasks

    def send(run_id):
        transaction.on_commit(lambda: tasks.execute_run.apply_async((run_id,), queue=queue))

    return send


# --- network --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class CutProxy:
    """A TCP proxy to the stack that cuts an SSE response after `cut_after` bytes, `cuts` times:
    the way a load balancer or a flaky network drops a long-lived stream mid-event."""

    def __init__(self, target: str, *, cut_after=700, cuts=2):
        host, port = target.split("//")[1].split(":")
        self.target = (host, int(port))
        self.cut_after, self.cuts_left, self.cuts = cut_after, cuts, 0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.sock = socket.create_server(("127.0.0.1", self.port))
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            up = socket.create_connection(self.target)
            state = {"streaming": False, "sent": 0}
            threading.Thread(target=self._up, args=(conn, up, state), daemon=True).start()
            threading.Thread(target=self._down, args=(up, conn, state), daemon=True).start()

    def _up(self, conn, up, state):
        try:
            while data := conn.recv(65536):
                if b"/events/stream" in data:
                    state["streaming"], state["sent"] = True, 0
                up.sendall(data)
        except OSError:
            pass

    def _down(self, up, conn, state):
        try:
            while data := up.recv(65536):
                with self.lock:
                    cutting = state["streaming"] and self.cuts_left > 0
                    if cutting and state["sent"] + len(data) >= self.cut_after:
                        conn.sendall(data[: self.cut_after - state["sent"]])
                        self.cuts_left -= 1
                        self.cuts += 1
                        break
                state["sent"] += len(data)
                conn.sendall(data)
        except OSError:
            pass
        for s in (conn, up):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.sock.close()


# --- the live stack: worker, daphne, Redis --------------------------------------------------


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
    """A process of the stack (worker, daphne) on the test database; ready(log) says it is up."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "out.log"
    env = {
        **os.environ,
        **WORKER_ENV,
        "DATABASE_URL": database_url(),
        "CROWNEST_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        **(extra_env or {}),
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        started(proc, argv[2], log, lambda: ready(log))
        yield proc, log
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def worker_process(
    queue: str, folder: Path, extra_env: dict | None = None, concurrency=3, name: str = ""
):
    """A Celery worker consuming `queue`, as a context manager yielding (process, log path)."""
    argv = [sys.executable, "-m", "celery", "-A", "crownest_web", "worker"]
    argv += ["--concurrency", str(concurrency), "--loglevel", "INFO", "-Q", queue]
    argv += ["-n", f"{name or queue}@%h", "--without-gossip", "--without-mingle"]
    return service(argv, folder, lambda log: b"ready." in log.read_bytes(), extra_env)


def daphne_process(folder: Path, extra_env: dict | None = None):
    """daphne (HTTP, SSE, websockets) on a free port; yields (process, log, base URL)."""
    port = free_port()
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    argv += ["crownest_web.asgi:application"]

    @contextlib.contextmanager
    def running():
        with service(argv, folder, lambda _log: port_open(port), extra_env) as (proc, log):
            yield proc, log, f"http://127.0.0.1:{port}"

    return running()


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


def wait_for_idle_worker(timeout=60):
    """Cancel what a test left running and wait until the worker's last write for every run
    (the phases it records after the Evidence Bundle) is done. The database is flushed between
    tests, and a flush that races the worker's writes deadlocks in PostgreSQL."""
    from django.db.models import Q

    from runs.models import Run
    from runs.services import run_cancel

    S = Run.Status
    for run in Run.objects.filter(status__in=[S.AWAITING_ARCHIVE, S.READY, S.QUEUED, S.RUNNING]):
        try:
            run_cancel(run=run)
        except Exception:  # it ended meanwhile
            pass
    # a lost run's worker is gone: the reaper's ending (ending_done_at) is its last write
    lost = Q(failure_reason=Run.Failure.LOST_WORKER, ending_done_at__isnull=False)
    busy = Run.objects.filter(status__in=[S.QUEUED, S.RUNNING]) | Run.objects.filter(
        status__in=Run.TERMINAL, worker__gt=""
    ).exclude(Q(phases__has_key="evidence") | lost)
    wait_until(
        lambda: not busy.exists(),
        timeout=timeout,
        interval=0.1,
        message=lambda: f"the worker is still busy with {list(busy.values_list('id', 'status'))}",
    )


def run_containers(docker_client, run_id: str):
    """The run's containers: made for it (labelled), or taken from the pool (renamed to it)."""
    by_label = {"label": f"org.crownest.run={run_id}"}
    found = docker_client.containers.list(all=True, filters=by_label)
    found += docker_client.containers.list(all=True, filters={"name": f"^/?crownest-run-{run_id}$"})
    return list({c.id: c for c in found}.values())


# --- the sandbox's hardening, probed from inside (shared by the runc and runsc tests) ---------

HARDENING_PROBE = (
    "import os, socket\n"
    "try:\n"
    "    socket.create_connection(('1.1.1.1', 53), timeout=3); print('net: open')\n"
    "except OSError as e:\n"
    "    print('net: blocked')\n"
    "for p in ('/etc/evil', '/usr/evil', '/evil'):\n"
    "    try:\n"
    "        open(p, 'w').write('x'); print('write', p, 'ok')\n"
    "    except OSError:\n"
    "        print('write', p, 'refused')\n"
    "open('/workspace/fine', 'w').write('x'); print('workspace ok')\n"
    "open('/tmp/fine', 'w').write('x'); print('tmp ok')\n"
    "open('/tmp/t.sh', 'w').write('#!/bin/sh\\necho tmp-exec ok\\n')\n"
    "os.chmod('/tmp/t.sh', 0o755)\n"
    "os.system('/tmp/t.sh')\n"
    "print('uid', os.getuid())\n"
    "print('caps', open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
    # prctl(PR_GET_NO_NEW_PRIVS): gVisor enforces the flag but does not show it in /proc.
    "import ctypes; print('nnp', ctypes.CDLL(None).prctl(39, 0, 0, 0, 0))\n"
)


def assert_hardened(out: str) -> None:
    assert "net: blocked" in out
    assert "write /etc/evil refused" in out and "write /usr/evil refused" in out
    assert "write /evil refused" in out
    assert "workspace ok" in out and "tmp ok" in out and "tmp-exec ok" in out
    assert "uid 1000" in out
    assert "caps 0000000000000000" in out
    assert "nnp 1" in out


def stored_artifact(run_id: str, path: str, body: bytes, content_type: str = "text/plain"):
    """An artifact of the run whose bytes are in the default storage (local or S3)."""
    from django.core.files.base import ContentFile

    from runs.blobs import storage
    from runs.models import Artifact

    name = storage().save(f"artifacts/{run_id}/{path.replace('/', '_')}", ContentFile(body))
    return Artifact.objects.create(
        run_id=run_id,
        path=path,
        size_bytes=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        content_type=content_type,
        file=name,
    )
