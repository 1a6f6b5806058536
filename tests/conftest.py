"""Fixtures shared by the suite: users, API clients, the suite's Redis, and the live stack (one
real Celery worker and one daphne, against the test database, real Redis and the real Docker
engine, started once per session and shared). Helpers that are not fixtures live in helpers/.

Markers (pyproject.toml): `docker`, `browser`, `s3`, `node`, `egress`, `faults`, `multihost`.
A test that uses a fixture of the live stack, the egress proxy, the browser, the S3 server or
the built TypeScript SDK is marked here (MARKED_BY_FIXTURE), even where its module does not
say so; `make test-fast` runs what carries none of them."""

import os
import sys

# Name this process's database connections before any is made (tests/quiet.py tells them apart).
os.environ["PGAPPNAME"] = f"crownest-tests-{os.getpid()}"

import pytest
from django.conf import settings
from django.test import TransactionTestCase

from .egress_support import (  # noqa: F401 (fixtures)
    egress_env,
    egress_proxy,
    egress_runs,
    egress_worker,
    upstream_ca,
    upstreams,
)
from .helpers import (
    WORKER_ENV,
    PrivateRedis,
    Runs,
    Stack,
    client_for,
    daphne_process,
    make_targz,  # noqa: F401 (test_ending.py imports it from here; it should use helpers)
    redis_port,
    wait_for_idle_worker,
    worker_process,
)
from .quiet import quiet_fixture_teardown
from .s3support import moto, on_s3, s3_env, s3_media, s3_web, s3_worker  # noqa: F401 (fixtures)

# A test that uses one of these fixtures needs what the marker names, whatever its module says.
MARKED_BY_FIXTURE = {
    "docker": {
        "worker",
        "stack",
        "live_worker",
        "live_stack",
        "docker_client",
        "egress_proxy",
        "egress_worker",
        "egress_runs",
    },  # fmt: skip
    "browser": {"browser"},
    "s3": {"moto", "on_s3", "s3_env", "s3_media", "s3_web", "s3_worker"},
    "node": {"sigstore_verifier", "ts_built"},
    "egress": {"egress_proxy", "egress_worker", "egress_runs"},
}


def pytest_collection_modifyitems(items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for marker, needs in MARKED_BY_FIXTURE.items():
            if fixtures & needs:
                item.add_marker(getattr(pytest.mark, marker))


@pytest.fixture(autouse=True)
def seeded_templates(request):
    """The templates settings define (python-node), as a migration seeds them: a transactional
    test's flush removes every row, so each test that uses the database has them again, as
    `make setup` (manage.py seed_templates) makes sure of on an installation."""
    names = set(request.fixturenames)
    if request.node.get_closest_marker("django_db") or names & {"db", "transactional_db"}:
        from runs.sandbox_templates.seed import templates_seed

        request.getfixturevalue("db")
        templates_seed()


@pytest.fixture(autouse=True)
def sandbox_defaults(settings):
    """The suite's workers' sandbox defaults (helpers.WORKER_ENV) in this process too: a run's
    resources are filled in from them where the run is created (the API, here in-process), and
    the worker applies what the run carries."""
    for name in ("CROWNEST_SANDBOX_MEMORY", "CROWNEST_SANDBOX_DISK"):
        setattr(settings, name, WORKER_ENV[name])


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="pw-alice")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="mallory", password="pw-mallory")


@pytest.fixture
def api(user):
    return client_for(user)


@pytest.fixture
def other_api(other_user):
    return client_for(other_user)


@pytest.fixture
def runs(api):
    return Runs(api)


@pytest.fixture(scope="session", autouse=True)
def quiet_flush():
    """Every flush between transactional tests (every test with committed data: the live stack,
    the fault tests, the feed) runs with the database closed to every other client: see
    quiet.py for why a flush that races the stack's queries deadlocks."""
    original = TransactionTestCase._fixture_teardown
    TransactionTestCase._fixture_teardown = quiet_fixture_teardown(original)
    yield
    TransactionTestCase._fixture_teardown = original


@pytest.fixture(scope="session", autouse=True)
def private_redis():
    """With `make test`, REDIS_URL names a port of the suite's own; start Redis there."""
    redis = PrivateRedis()
    if redis_port() != 6379:
        redis.start()
    yield redis
    redis.stop()


@pytest.fixture(scope="session")
def live_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """One real Celery worker for the session, on the test database."""
    folder = tmp_path_factory.mktemp("worker")
    with worker_process(settings.CELERY_TASK_DEFAULT_QUEUE, folder) as (proc, log):
        yield proc
    if os.environ.get("CROWNEST_SHOW_WORKER_LOG"):
        sys.stderr.write(log.read_text()[-int(os.environ["CROWNEST_SHOW_WORKER_LOG"]) :])


@pytest.fixture(scope="session")
def live_stack(live_worker, tmp_path_factory):
    """daphne (HTTP, SSE, websockets) in its own process, on the test database."""
    with daphne_process(tmp_path_factory.mktemp("web")) as (_proc, _log, base_url):
        yield Stack(base_url)


@pytest.fixture
def stack(live_stack, worker):
    """A test against the live stack: daphne + worker, committed data."""
    return live_stack


@pytest.fixture
def worker(live_worker, transactional_db):
    """A test that runs sandboxes: committed data (the worker is another process) and the worker."""
    yield live_worker
    wait_for_idle_worker()


@pytest.fixture(scope="session")
def docker_client():
    import docker

    return docker.from_env()


@pytest.fixture
def cli_env(stack, user, tmp_path):
    """The environment of a `crownest` command run against the live stack as `user`."""
    return {
        **os.environ,
        "CROWNEST_URL": stack.base_url,
        "CROWNEST_TOKEN": stack.token(user),
        "CROWNEST_CONFIG": str(tmp_path / "no-config.json"),
    }
