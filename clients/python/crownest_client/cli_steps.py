"""Step-by-step commands: `runs ...`, `artifacts ...`, `evidence get`, `templates` (registered
in cli.py). They print the API's JSON on stdout (for scripts) and notes on stderr."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from .cli_common import (
    EXIT_REJECTED,
    api_call,
    emit,
    err,
    exit_code_for,
    parse_env,
    print_event,
)
from .oneshot import reused, safe_join, upload
from .packing import file_digest


def runs_create(
    archive: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="The .tar.gz")],
    command: Annotated[str, typer.Option("--command", "-c")],
    template: str = "python-node",
    artifact: Annotated[
        list[str],
        typer.Option("--artifact", "-a", metavar="<path>", help="Path or glob (repeatable)"),
    ] = [],  # noqa: B006
    timeout: int | None = None,
    keep_sandbox: bool = typer.Option(
        False, "--keep-sandbox", help="Keep the sandbox after the run ends"
    ),
    env: Annotated[
        list[str], typer.Option("--env", "-e", metavar="<K=V>", help="Environment (repeatable)")
    ] = [],  # noqa: B006
    no_reuse: bool = typer.Option(
        False, "--no-reuse", help="Await an upload even when the service has this archive"
    ),
    network: str = typer.Option(
        "none",
        "--network",
        help="none | allowlist (the hosts the template allows) | replay (with --replay-of)",
    ),
    replay_of: str | None = typer.Option(
        None, "--replay-of", metavar="<run id>", help="The run whose downloads a replay gets"
    ),
):
    """Create a run for an archive file (its size and sha256 are computed here). When the
    service already has the archive, the run is ready at once: start it, no upload needed."""
    size, sha = file_digest(archive)
    meta = {"sizeBytes": size, "sha256": sha, "filename": archive.name}
    run = api_call(
        lambda c: c.create_run(
            template=template,
            command=command,
            archive=meta,
            artifact_paths=artifact,
            timeout_seconds=timeout,
            keep_sandbox=keep_sandbox,
            env=parse_env(env),
            reuse_archive=not no_reuse,
            network=network,
            replay_of=replay_of,
        )
    )
    if reused(run):
        err.print(f"archive already uploaded, reusing: start it (crownest runs start {run.id})")
    emit(run.raw)


def runs_upload(
    run_id: str,
    archive: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    staged: bool = typer.Option(False, "--staged", help="Always use a staged transfer"),
):
    """Upload the archive (direct, or staged when large or asked for)."""
    size = archive.stat().st_size

    def go(c):
        return upload(c, c.get_run(run_id), archive, size, method="staged" if staged else "auto")

    run, method = api_call(go)
    err.print(f"--- uploaded ({method})")
    emit(run.raw)


def runs_start(run_id: str):
    emit(api_call(lambda c: c.start(run_id)).raw)


def runs_get(run_id: str):
    emit(api_call(lambda c: c.get_run(run_id)).raw)


def runs_cancel(run_id: str):
    emit(api_call(lambda c: c.cancel(run_id)).raw)


def runs_rerun(
    run_id: str,
    start: bool = typer.Option(False, "--start", help="Start the new run at once"),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Start it, stream its output, exit with its exit code"
    ),
    network: str | None = typer.Option(
        None, "--network", help="replay: get this run's recorded downloads and nothing else"
    ),
):
    """Run the same again: a new run with the same template, command, archive, artifact paths,
    timeout, env and team. The stored archive is reused (no upload) while the server keeps it."""
    run = api_call(lambda c: c.rerun(run_id, network=network))
    err.print(f"[dim]--- {run.id} re-runs {run_id} ({run.status})[/dim]")
    if (start or follow) and run.status != "ready":
        err.print(
            f"the original archive is no longer stored: upload the same file with "
            f"`crownest runs upload {run.id} FILE`, then `crownest runs start {run.id}`"
        )
        emit(run.raw)
        raise typer.Exit(EXIT_REJECTED)
    if start or follow:
        run = api_call(lambda c: c.start(run.id))
    if not follow:
        emit(run.raw)
        return
    runs_events(run.id, after_seq=0, follow=True, as_json=False)


def runs_list(
    status: str | None = typer.Option(None, help="Comma-separated statuses"),
    template: str | None = None,
    page: int = 1,
):
    result = api_call(lambda c: c.list_runs(page=page, status=status, template=template))
    emit({"count": result.count, "page": result.page, "results": [r.raw for r in result.results]})


def runs_events(
    run_id: str,
    after_seq: int = typer.Option(0, "--after-seq"),
    follow: bool = typer.Option(False, "--follow", "-f", help="Stream until the run ends"),
    as_json: bool = typer.Option(False, "--json", help="One event JSON per line"),
):
    """Print events after a seq; with --follow, stream live and exit with the run's code."""
    code = {"value": 0}

    def show(event):
        if as_json:
            sys.stdout.write(json.dumps(event.to_json()) + "\n")
            sys.stdout.flush()
        else:
            print_event(event)
        if event.type == "terminal":
            code["value"] = exit_code_for(event.data)

    def go(c):
        if follow:
            for event in c.stream_events(run_id, after_seq=after_seq):
                show(event)
            return
        after = after_seq
        while True:
            page = c.list_events(run_id, after_seq=after, limit=1000)
            for event in page.events:
                show(event)
            after = page.next_after_seq
            if not page.has_more:
                return

    try:
        api_call(go)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    raise typer.Exit(code["value"])


def artifacts_list(run_id: str):
    emit([a.__dict__ for a in api_call(lambda c: c.list_artifacts(run_id))])


def artifacts_download(
    run_id: str,
    out: Annotated[Path, typer.Option(help="Directory; files keep their artifact paths")],
    path: Annotated[
        list[str],
        typer.Option("--path", metavar="<path>", help="Only these artifact paths (repeatable)"),
    ] = [],  # noqa: B006
):
    """Download a run's artifacts into --out."""

    def go(c):
        saved = []
        for artifact in c.list_artifacts(run_id):
            if path and artifact.path not in path:
                continue
            saved.append(str(c.download_artifact(artifact.id, safe_join(out, artifact.path))))
        return saved

    for name in api_call(go):
        err.print(name)


def evidence_get(
    run_id: str,
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout")] = None,
    wait: float = typer.Option(30.0, help="Seconds to wait for evidence_not_ready"),
):
    bundle = api_call(lambda c: c.get_evidence(run_id, wait=wait)).raw
    if out:
        out.write_text(json.dumps(bundle, indent=2) + "\n")
    else:
        emit(bundle)


def templates():
    """List the sandbox templates."""
    emit([t.raw for t in api_call(lambda c: c.list_templates())])


USAGE_ROWS = (
    ("running", "runningRuns", "maxRunning"),
    ("run minutes today", "runMinutesToday", "runMinutesPerDay"),
    ("run minutes this month", "runMinutesThisMonth", "runMinutesPerMonth"),
    ("stored bytes", "storedBytes", "storedBytes"),
    ("awaiting archive", "awaitingArchive", "maxAwaitingArchive"),
)


def usage_lines(rows: list[dict]) -> list[str]:
    """The usage as a person reads it: one block per user or team, each measure of its limit."""
    lines = []
    for row in rows:
        lines.append(f"{row['scope']} {row['name']}")
        for label, used, limit in USAGE_ROWS:
            cap = row["limits"][limit]
            value = row["used"][used]
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            lines.append(f"  {label:<24}{shown}" + (f" / {cap}" if cap else ""))
    return lines


def usage(
    text: bool = typer.Option(False, "--text", help="A table for people instead of JSON"),
):
    """Your usage and your teams' against each quota."""
    rows = api_call(lambda c: c.usage())
    if text:
        sys.stdout.write("\n".join(usage_lines(rows)) + "\n")
    else:
        emit(rows)
