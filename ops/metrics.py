"""Every metric CrowNest counts where the thing happens (docs/operations.md, "Monitoring"), and
the one-line hooks that the rest of the code calls. Gauges of the database's state (queue,
hosts, slots) are not here: ops/collectors.py reads them at scrape time.

Labels are few and bounded (templates, statuses, reasons, phases, kinds): never a run id or a
user name. With PROMETHEUS_MULTIPROC_DIR set (several processes serving one host: Celery's
prefork children, several web processes) prometheus_client shares the values through files
there. This module imports nothing of the project, so any part may call it."""

from collections import Counter as Tally

from django.conf import settings
from django.db import transaction
from prometheus_client import Counter, Gauge, Histogram

# From a 0.1 s warm start to a 1 h run (and twice that, for the longest timeouts).
SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)

runs_created = Counter("crownest_runs_created_total", "Runs created.", ["template"])
runs_started = Counter(
    "crownest_runs_started_total", "Runs a worker started (queued to running).", ["template"]
)
runs_ended = Counter(
    "crownest_runs_ended_total",
    "Runs that reached their terminal status (failure_reason is 'none' unless failed).",
    ["template", "status", "failure_reason"],
)
queue_wait = Histogram(
    "crownest_run_queue_wait_seconds", "Queued to started.", ["template"], buckets=SECONDS
)
run_duration = Histogram(
    "crownest_run_duration_seconds",
    "Started (or created, for a run that never started) to its terminal status.",
    ["template", "status"],
    buckets=SECONDS,
)
phase_seconds = Histogram(
    "crownest_run_phase_seconds",
    "Each phase of a run on its worker: create, extract, exec, collect, evidence, remove.",
    ["phase"],
    buckets=SECONDS,
)
pool_takes = Counter(
    "crownest_pool_takes_total", "Sandboxes asked of the warm pool: hit or miss.", ["result"]
)
pool_removed = Counter(
    "crownest_pool_removed_total",
    "Pooled sandboxes removed unused: drain (worker stopping) or stale (a new image).",
    ["reason"],
)
archive_bytes = Counter(
    "crownest_archive_received_bytes_total",
    "Bytes of archives verified and stored, by upload method.",
    ["method"],
)
archive_failures = Counter(
    "crownest_archive_verification_failures_total",
    "Archives refused, by error code (digest or size mismatch, unsafe, unsupported, too large).",
    ["code"],
)
events_appended = Counter("crownest_events_appended_total", "Run events stored, by type.", ["type"])
viewers = Gauge(
    "crownest_live_viewers",
    "Live event streams open now, by kind (sse, websocket).",
    ["kind"],
    multiprocess_mode="livesum",
)
output_dropped = Counter(
    "crownest_output_dropped_bytes_total", "Command output dropped past the per-run cap."
)
output_capped = Counter("crownest_output_capped_runs_total", "Runs whose output reached the cap.")
evidence_written = Counter(
    "crownest_evidence_written_total", "Evidence Bundles written, signed or not.", ["signed"]
)
signing_failures = Counter(
    "crownest_evidence_signing_failures_total",
    "Run endings whose Evidence Bundle could not be signed (no key, or signing failed).",
)
evidence_latency = Histogram(
    "crownest_evidence_write_latency_seconds",
    "The run's terminal status to its Evidence Bundle stored.",
    buckets=SECONDS,
)
template_builds = Counter(
    "crownest_template_builds_total", "Template versions built, by result.", ["result"]
)
template_build_seconds = Histogram(
    "crownest_template_build_duration_seconds", "Template builds.", ["result"], buckets=SECONDS
)
retention_sweeps = Counter("crownest_retention_sweeps_total", "Retention sweeps done.")
retention_freed = Counter(
    "crownest_retention_freed_bytes_total", "Bytes removed by retention.", ["kind"]
)
retention_removed = Counter(
    "crownest_retention_removed_total", "Stored files removed by retention.", ["kind"]
)
reaper_actions = Counter(
    "crownest_reaper_actions_total",
    "What the reaper did: lost_worker, ending_finished, requeue, stray_removed, "
    "pool_orphan_removed, template_build_restarted.",
    ["kind"],
)
http_requests = Counter(
    "crownest_http_requests_total", "Requests answered, by route.", ["route", "method", "status"]
)
http_seconds = Histogram(
    "crownest_http_request_duration_seconds",
    "Time to the answer's headers (a stream's body is not counted).",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def on() -> bool:
    return settings.CROWNEST_METRICS_ENABLED


def _after_commit(count) -> None:
    """Counted once the write is committed: a rolled-back attempt counts nothing."""
    if on():
        transaction.on_commit(count)


def run_created(template: str) -> None:
    _after_commit(lambda: runs_created.labels(template).inc())


def run_started(run) -> None:
    if not on():
        return
    runs_started.labels(run.template).inc()
    if run.queued_at and run.started_at:
        wait = (run.started_at - run.queued_at).total_seconds()
        queue_wait.labels(run.template).observe(max(wait, 0))


def run_ended(run) -> None:
    """Called once, with the run's terminal transition (runs/lifecycle.py)."""
    start = run.started_at or run.created_at
    took = (run.finished_at - start).total_seconds() if run.finished_at and start else None

    def count():
        runs_ended.labels(run.template, run.status, run.failure_reason or "none").inc()
        if took is not None:
            run_duration.labels(run.template, run.status).observe(max(took, 0))

    _after_commit(count)


def run_phases(phases: dict) -> None:
    if on():
        for name, seconds in phases.items():
            if name != "queue" and isinstance(seconds, int | float):
                phase_seconds.labels(name).observe(seconds)


def events_stored(items) -> None:
    if on():
        tally = Tally(kind for kind, _ in items)
        transaction.on_commit(lambda: [events_appended.labels(k).inc(n) for k, n in tally.items()])


def pool_take(hit: bool) -> None:
    if on():
        pool_takes.labels("hit" if hit else "miss").inc()


def pool_remove(reason: str) -> None:
    if on():
        pool_removed.labels(reason).inc()


def archive_received(method: str, size: int) -> None:
    if on():
        archive_bytes.labels(method).inc(size)


def output_drop(size: int, capped_now: bool) -> None:
    if on():
        output_dropped.inc(size)
        if capped_now:
            output_capped.inc()


def template_built(error: str, seconds: float) -> None:
    if on():
        result = "failed" if error else "ready"
        template_builds.labels(result).inc()
        template_build_seconds.labels(result).observe(seconds)


def retention_swept(report) -> None:
    if not on() or report.dry_run:
        return
    retention_sweeps.inc()
    retention_freed.labels("archive").inc(report.archive_bytes)
    retention_freed.labels("artifact").inc(report.artifact_bytes)
    retention_removed.labels("archive").inc(report.archives)
    retention_removed.labels("artifact").inc(report.artifacts)
    retention_freed.labels("download").inc(report.network_bytes)
    retention_removed.labels("download").inc(report.network_bodies)


REAPER_KINDS = {
    "lost": "lost_worker",
    "finished": "ending_finished",
    "requeue": "requeue",
    "removed": "stray_removed",
    "pool": "pool_orphan_removed",
    "templateBuilds": "template_build_restarted",
}


def reaper_pass(report: dict) -> None:
    if on():
        for key, kind in REAPER_KINDS.items():
            if report.get(key):
                reaper_actions.labels(kind).inc(len(report[key]))


async def viewing(kind: str, stream):
    """Passes a viewer's async stream through, counted as a live viewer while it is open."""
    gauge = viewers.labels(kind) if on() else None
    if gauge:
        gauge.inc()
    try:
        async for item in stream:
            yield item
    finally:
        if gauge:
            gauge.dec()
        # The inner stream's own clean-up (releasing the shared reader) must not wait for GC.
        await stream.aclose()
