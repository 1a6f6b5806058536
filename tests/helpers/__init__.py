"""What the suite's test modules share besides fixtures, by subject: waiting (the one polling
helper), archives, the API as a client drives it, the network, the live stack's processes and
the sandbox seen from outside. Test modules import from here (`from .helpers import ...`),
never from each other or from conftest.py (which holds fixtures only)."""

from .api import TERMINAL, Runs, Staged, client_for, error_of, stored_artifact, to_queue
from .archives import archive_meta, make_targz
from .net import CutProxy, free_port, port_open
from .sandbox import HARDENING_PROBE, assert_hardened, run_containers
from .stack import (
    CLI,
    LINES,
    ROOT,
    WORKER_ENV,
    PrivateRedis,
    Stack,
    busy_runs,
    daphne_process,
    database_url,
    redis_port,
    service,
    started,
    wait_for_idle_worker,
    web_process,
    worker_process,
)
from .waiting import wait_until

__all__ = [
    "CLI",
    "HARDENING_PROBE",
    "LINES",
    "ROOT",
    "TERMINAL",
    "WORKER_ENV",
    "CutProxy",
    "PrivateRedis",
    "Runs",
    "Stack",
    "Staged",
    "archive_meta",
    "assert_hardened",
    "busy_runs",
    "client_for",
    "daphne_process",
    "database_url",
    "error_of",
    "free_port",
    "make_targz",
    "port_open",
    "redis_port",
    "run_containers",
    "service",
    "started",
    "stored_artifact",
    "to_queue",
    "wait_for_idle_worker",
    "wait_until",
    "web_process",
    "worker_process",
]
