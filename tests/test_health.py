"""/healthz: the docker check asks the workers to ping their engines (the web never does)."""

import contextlib

import pytest
from celery import current_app
from django.conf import settings
from kombu import pools

from .helpers import wait_until, worker_process

pytestmark = pytest.mark.docker


@contextlib.contextmanager
def broker(url: str):
    """Send this process's control broadcasts through another broker (a Redis database)."""
    old = current_app.conf.broker_url

    def use(broker_url):
        # The Django namespace key wins over broker_url; set both.
        current_app.conf.update(broker_url=broker_url, CELERY_BROKER_URL=broker_url)
        pools.reset()  # kombu's registry would hand back the old, closed pools
        current_app._pool = None  # as Celery does after a fork: no cached pools
        current_app.amqp._producer_pool = None

    use(url)
    try:
        yield
    finally:
        use(old)


def other_db(n: int) -> str:
    return settings.REDIS_URL.rsplit("/", 1)[0] + f"/{n}"


def test_healthy_when_a_worker_reaches_docker(client, worker):
    resp = client.get("/healthz")
    assert resp.status_code == 200, resp.json()
    body = resp.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "redis": "ok", "docker": "ok"}
    # the suite's worker is one host, heard from, with its slots (its concurrency); the
    # database was flushed before this test, so it may take a heartbeat to record itself again
    host = wait_until(
        lambda: {h["name"]: h for h in client.get("/healthz").json()["hosts"]}.get(
            settings.CROWNEST_WORKER_HOST
        ),
        timeout=10,
    )
    assert host["state"] == "up" and host["slots"] == 3


def test_unhealthy_when_no_worker_answers(client, db):
    with broker(other_db(8)):
        resp = client.get("/healthz")
    assert resp.status_code == 503
    assert resp.json()["checks"]["docker"].startswith("error: no worker answers")


def test_unhealthy_when_the_workers_engine_is_down(client, db, tmp_path):
    url = other_db(9)
    env = {"CELERY_BROKER_URL": url, "REDIS_URL": url, "DOCKER_HOST": "unix:///nonexistent.sock"}
    with worker_process("health-check", tmp_path, env, concurrency=1), broker(url):
        resp = client.get("/healthz")
    assert resp.status_code == 503
    docker = resp.json()["checks"]["docker"]
    assert docker.startswith("error: no worker reaches its Docker engine"), docker
