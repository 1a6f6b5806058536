import os

from django.conf import settings
from django.utils.module_loading import import_string

from .base import DiskFull, Limits, RunSpec, SandboxError, sandbox_name

__all__ = [
    "DiskFull",
    "Limits",
    "RunSpec",
    "SandboxError",
    "get_sandbox",
    "limits_from_settings",
    "sandbox_name",
]

# The Docker sandbox with its egress folders (egress_docker.py; docker.py is the rest).
BACKENDS = {"docker": "runs.worker.sandbox.egress_docker.EgressDockerSandbox"}

_instance = None


def _forget_after_fork():
    # A forked worker child must not share the parent's Docker client: its pooled connections
    # would carry both processes' requests (the pool keeper's and the child's runs) at once.
    global _instance
    _instance = None


os.register_at_fork(after_in_child=_forget_after_fork)


def get_sandbox():
    global _instance
    if _instance is None:
        name = settings.CROWNEST_SANDBOX_BACKEND
        _instance = import_string(BACKENDS.get(name, name))()
    return _instance


def limits_from_settings() -> Limits:
    return Limits(
        memory=settings.CROWNEST_SANDBOX_MEMORY,
        cpus=settings.CROWNEST_SANDBOX_CPUS,
        pids=settings.CROWNEST_SANDBOX_PIDS,
        tmp_size=settings.CROWNEST_SANDBOX_TMP_SIZE,
        network=settings.CROWNEST_SANDBOX_NETWORK,
        user=settings.CROWNEST_SANDBOX_USER,
        disk=settings.CROWNEST_SANDBOX_DISK,
        runtime=settings.CROWNEST_SANDBOX_RUNTIME,
    )
