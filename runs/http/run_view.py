"""What the run page shows besides the run itself: the phase timeline, the limits in words, the
failure in a sentence, the re-run links and the test results. Plain data for the templates."""

from django.utils import timezone

from .. import selectors, testreports
from ..ids import iso
from ..models import Run
from ..templatetags.crownest import humansize, timespan

P = Run.Phase
FAILURES = {
    "exit_code": "the command exited with code {exit}",
    "timeout": "stopped at its timeout of {timeout}",
    "archive_invalid": "the archive could not be extracted",
    "sandbox_error": "the sandbox failed (not the command)",
    "oom_killed": "killed: out of memory (limit {memory})",
    "output_limit": "stopped: its output passed the limit of {output}",
    "lost_worker": "the worker running it stopped answering",
    "disk_limit": "stopped: /workspace ran out of disk space",
}


def _secs(start, end) -> float | None:
    return (end - start).total_seconds() if start and end else None


def _segment(key, label, seconds, since=None):
    """`since` set: the phase is under way and the page counts its seconds on from there."""
    return {"key": key, "label": label, "seconds": seconds, "since": iso(since) if since else ""}


def phase_timeline(run: Run) -> list[dict]:
    """Queue, pull, sandbox, extract, command, collect (Run.Phase): the worker's measured phases
    once the run ended, from the run's timestamps while it is under way (pull, sandbox and
    extraction are one segment then: no timestamp lies between them)."""
    p = run.phases or {}
    if P.COMMAND in p:
        shown = (P.QUEUE, P.PULL, P.SANDBOX, P.EXTRACT, P.COMMAND, P.COLLECT)
        return [_segment(k, P(k).label.lower(), p[k]) for k in shown if p.get(k) is not None]
    live = not run.is_terminal
    end = run.finished_at
    steps = [
        (P.QUEUE, "queue", run.queued_at, run.started_at),
        (P.SANDBOX, "sandbox & extract", run.started_at, run.command_started_at),
        (P.COMMAND, "command", run.command_started_at, run.command_finished_at),
        (P.COLLECT, "collect", run.command_finished_at, None),
    ]
    out = []
    for key, label, start, stop in steps:
        if start is None:
            break
        stop = stop or end
        if stop is None and live:
            out.append(_segment(key, label, _secs(start, timezone.now()), since=start))
            break
        if stop is not None:
            out.append(_segment(key, label, _secs(start, stop)))
    return out


def limits_text(run: Run) -> list[str]:
    """The limits a run got, as people say them: "timeout 10 min", "memory 1 GiB"."""
    lim = run.limits or {}
    out = [f"timeout {timespan(run.timeout_seconds)}"]
    if "memory" in lim:
        out.append(f"memory {humansize(lim['memory'])}")
    if lim.get("cpus"):
        cpus = lim["cpus"]
        out.append(f"{cpus:g} CPU" + ("" if cpus == 1 else "s"))
    if lim.get("pids"):
        out.append(f"{lim['pids']} processes")
    if lim.get("tmpSize"):
        out.append(f"/tmp {humansize(lim['tmpSize'])}")
    if lim.get("disk"):
        out.append(f"disk {humansize(lim['disk'])}")
    if lim.get("runtime") and lim["runtime"] != "runc":
        out.append(f"runtime {lim['runtime']}")
    if "network" in lim:
        out.append("network on" if lim["network"] else "no network")
    if lim.get("outputLimitBytes"):
        out.append(f"output {humansize(lim['outputLimitBytes'])}")
    if lim.get("artifactMaxBytes"):
        text = f"artifacts {humansize(lim['artifactMaxBytes'])} each"
        if lim.get("artifactMaxTotalBytes"):
            text += f", {humansize(lim['artifactMaxTotalBytes'])} in all"
        if lim.get("artifactMaxFiles"):
            text += f", {lim['artifactMaxFiles']} files"
        out.append(text)
    if run.keep_sandbox:
        out.append("sandbox kept")
    return out


def failure_text(run: Run) -> str:
    if run.status != Run.Status.FAILED:
        return ""
    lim = run.limits or {}
    template = FAILURES.get(run.failure_reason, run.failure_reason or "failed")
    return template.format(
        exit=run.exit_code,
        timeout=timespan(run.timeout_seconds),
        memory=humansize(lim.get("memory", "?")),
        output=humansize(lim.get("outputLimitBytes", "?")),
    )


def rerun_links(user, run: Run) -> dict:
    """What this run re-runs and what re-ran it, as far as this user may see them."""
    visible = selectors.runs_visible_to(user)
    original = visible.filter(pk=run.rerun_of_id).first() if run.rerun_of_id else None
    reruns = list(visible.filter(rerun_of=run).order_by("created_at").values_list("id", flat=True))
    return {"rerun_of_id": run.rerun_of_id, "rerun_of": original, "reruns": reruns[:20]}


def test_results(run: Run, artifacts) -> dict | None:
    if not run.is_terminal:
        return None
    reports = testreports.run_test_reports(artifacts)
    if not reports:
        return None
    return {"reports": reports, "totals": testreports.totals(reports)}
