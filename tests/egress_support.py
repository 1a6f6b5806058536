"""Fixtures for the egress tests: the local upstreams (tests/egress_upstreams.py), an egress
proxy process (`manage.py egress_proxy`, the real one, on a folder of this module's own) and a
worker with egress on, listening on a queue of its own (runs go there through to_queue).

Import the fixtures by name into a test module."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from runs import tasks
from runs.egress import control
from runs.egress.ca import ca_create

from .egress_upstreams import TestCA, Upstream
from .helpers import ROOT, database_url, started, to_queue, worker_process

QUEUE = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-egress"
INSTANCE = f"{settings.CROWNEST_INSTANCE}-egress"
WORKER_HOST = f"{settings.CROWNEST_WORKER_HOST}-egress"
MAX_BYTES = 6 * 1024 * 1024  # small enough that a test can pass it


class Proxy:
    """The egress proxy process, restartable (a test kills it and brings it back)."""

    def __init__(self, env: dict, folder: Path):
        self.env, self.folder, self.proc = env, folder, None

    def answers(self) -> bool:
        with contextlib.suppress(control.ProxyUnavailable):
            return bool(control.control_call(self.env["CROWNEST_EGRESS_DIR"], {"op": "ping"}))
        return False

    def start(self) -> None:
        log = self.folder / "proxy.log"
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "egress_proxy"],
                cwd=ROOT,
                env={**os.environ, **self.env, "DATABASE_URL": database_url()},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started(self.proc, "egress_proxy", log, self.answers, timeout=30)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return (self.folder / "proxy.log").read_text()


@pytest.fixture(scope="module")
def upstream_ca(tmp_path_factory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("upstream-ca"))


@pytest.fixture(scope="module")
def egress_env(tmp_path_factory, upstream_ca) -> dict:
    folder = tmp_path_factory.mktemp("egress")
    ca_create(folder / "ca", common_name="CrowNest egress CA (tests)")
    return {
        "CROWNEST_EGRESS_ENABLED": "true",
        "CROWNEST_EGRESS_DIR": str(folder),
        "CROWNEST_EGRESS_CA_DIR": str(folder / "ca"),
        "CROWNEST_EGRESS_EXTRA_CA": str(upstream_ca.ca_file),
        "CROWNEST_EGRESS_MAX_BYTES": str(MAX_BYTES),
        "CROWNEST_INSTANCE": INSTANCE,
        "CROWNEST_WORKER_HOST": WORKER_HOST,
        # npm and pip need room for their caches and a node_modules.
        "CROWNEST_SANDBOX_TMP_SIZE": "64m",
        "CROWNEST_SANDBOX_PIDS": "128",
        "CROWNEST_SANDBOX_MEMORY": "512m",
    }


@pytest.fixture(scope="module")
def egress_proxy(egress_env, tmp_path_factory):
    proxy = Proxy(egress_env, tmp_path_factory.mktemp("egress-proxy"))
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def egress_worker(egress_env, egress_proxy, live_worker, tmp_path_factory):
    """A worker with egress on, on its own queue (after the shared one: the database is set up)."""
    folder = tmp_path_factory.mktemp("egress-worker")
    with worker_process(QUEUE, folder, egress_env, concurrency=2, name="egress") as (proc, log):
        yield proc, log


@pytest.fixture
def egress_runs(egress_worker, worker, monkeypatch):
    """Runs started in this test go to the egress worker."""
    monkeypatch.setattr(tasks.execute_run, "delay_on_commit", to_queue(QUEUE))
    return egress_worker


@pytest.fixture
def upstreams(upstream_ca):
    """Two HTTPS upstreams on this machine, a package index and an npm registry, for one test
    (a test may stop them)."""
    pypi, npm = Upstream(upstream_ca).start(), Upstream(upstream_ca).start()
    yield pypi, npm
    for upstream in (pypi, npm):
        with contextlib.suppress(Exception):
            upstream.stop()
