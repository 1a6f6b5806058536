"""Gauges read at scrape time instead of kept by hooks: what the database says now (runs queued
and running, worker hosts, their slots and heartbeats), answered by the web process's /metrics
alone (what only a worker host sees is in worker_exporter.py: the web never loads the worker)."""

import logging
import shutil
from pathlib import Path

from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from runs.models import Run, WorkerHost
from runs.selectors import hosts_report

log = logging.getLogger(__name__)
S = Run.Status


def gauge(name: str, doc: str, labels=(), rows=()) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=list(labels))
    for *values, value in rows:
        family.add_metric([str(v) for v in values], value)
    return family


def disk_rows(volumes: dict[str, Path]) -> list[GaugeMetricFamily]:
    free, size = [], []
    for volume, path in volumes.items():
        try:
            usage = shutil.disk_usage(path)
        except OSError:
            continue  # not made yet (no run has needed it), or not mounted
        free.append((volume, usage.free))
        size.append((volume, usage.total))
    return [
        gauge(
            "crownest_disk_free_bytes", "Free bytes of a volume CrowNest fills.", ["volume"], free
        ),
        gauge("crownest_disk_size_bytes", "Size of that volume.", ["volume"], size),
    ]


class DatabaseCollector:
    """Runs queued (by template) and running (by worker host); each host's state, slots, slots in
    use and heartbeat age; the media root's disk when archives and artifacts are stored there."""

    def collect(self):
        try:
            yield from self._families()
            ok = 1
        except Exception:  # the database is away: say so, and let the rest of the scrape stand
            log.warning("metrics: could not read the database", exc_info=True)
            ok = 0
        yield gauge(
            "crownest_database_up", "Whether the scrape could read the database.", (), [(ok,)]
        )

    def _families(self):
        queued = Run.objects.filter(status=S.QUEUED).values_list("template").annotate(n=Count("id"))
        yield gauge("crownest_runs_queued", "Runs queued now.", ["template"], queued)
        running = (
            Run.objects.filter(status=S.RUNNING).values_list("worker_host").annotate(n=Count("id"))
        )
        yield gauge("crownest_runs_running", "Runs running now.", ["worker_host"], running)
        yield from self._hosts()
        if not settings.CROWNEST_S3_BUCKET:
            yield from disk_rows({"media": Path(settings.MEDIA_ROOT)})

    def _hosts(self):
        report = hosts_report()
        seen = dict(WorkerHost.objects.values_list("name", "last_seen_at"))
        now = timezone.now()
        up = [(h["name"], 1 if h["state"] == "up" else 0) for h in report]
        yield gauge("crownest_worker_host_up", "1 while a host beats.", ["worker_host"], up)
        yield gauge(
            "crownest_worker_host_slots",
            "Run slots of a host that beats.",
            ["worker_host"],
            [(h["name"], h["slots"]) for h in report if h["state"] == "up"],
        )
        yield gauge(
            "crownest_worker_host_slots_in_use",
            "Runs running on a host.",
            ["worker_host"],
            [(h["name"], h["slots_in_use"]) for h in report],
        )
        # A host shut down cleanly (stopped) is not stale: its age is not reported.
        ages = [
            (h["name"], (now - seen[h["name"]]).total_seconds())
            for h in report
            if h["state"] != "stopped" and h["name"] in seen
        ]
        yield gauge(
            "crownest_worker_host_heartbeat_age_seconds",
            "Seconds since a host (not stopped) last beat.",
            ["worker_host"],
            ages,
        )
