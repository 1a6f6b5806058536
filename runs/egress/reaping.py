"""The reaper's part in egress (each host's own pass): a run folder whose run is not running on
this host any more (its worker died mid-run, the reaper ended it) has its log stored as far as
it got, its socket closed at the proxy, and its folder removed."""

import shutil

from django.conf import settings

from ..models import Run
from . import control
from .config import egress_dir
from .models import RunNetwork
from .store import log_store


def egress_strays_remove() -> list[str]:
    if not settings.CROWNEST_EGRESS_ENABLED:
        return []
    root = egress_dir() / control.RUNS
    ids = {p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()
    busy = set(
        Run.objects.filter(
            id__in=ids, status=Run.Status.RUNNING, worker_host=settings.CROWNEST_WORKER_HOST
        ).values_list("id", flat=True)
    )
    gone = sorted(ids - busy)
    for run_id in gone:
        folder = control.run_folder(egress_dir(), run_id)
        (folder / control.POLICY).unlink(missing_ok=True)  # not reopened by a restarting proxy
        try:
            control.control_call(egress_dir(), {"op": "close", "run": run_id})
        except control.ProxyUnavailable:
            pass  # a proxy that is down has no socket open for it either
        if RunNetwork.objects.filter(run_id=run_id, recorded_at__isnull=True).exists():
            log_store(run_id, folder)
        shutil.rmtree(folder, ignore_errors=True)
    return gone
