"""The one-shot commands: `login` and `run-archive` (registered in cli.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import httpx
import typer

from . import config
from .cli_common import (
    EXIT_CANCELED,
    archive_bar,
    client_from_config,
    err,
    exit_code_for,
    parse_env,
    print_event,
    report_error,
)
from .cli_progress import UploadBar
from .client import Client
from .errors import ApiError, CrownestError, RunNotStarted
from .models import Event
from .oneshot import RunResult, reused, run_archive

REUSING = "archive already uploaded, reusing"


def login(
    url: Annotated[str, typer.Option(prompt=True, help="Base URL, e.g. https://crownest.example")],
    token: Annotated[str, typer.Option(prompt=True, hide_input=True, help="API token (cn_...)")],
    verify: bool = typer.Option(True, help="Check the token against the service first."),
):
    """Store the service URL and token in the config file (mode 0600)."""
    if verify:
        try:
            with Client(url, token) as client:
                client.list_templates()
        except (CrownestError, httpx.HTTPError) as exc:
            raise typer.Exit(report_error(exc)) from None
    err.print(f"saved to {config.save(url, token)}")


def run_archive_cmd(
    path: Annotated[Path, typer.Argument(exists=True, help="A directory or a .tar.gz/.tgz")],
    command: Annotated[str, typer.Option("--command", "-c", help="Run under /bin/sh -c")],
    template: str = typer.Option("python-node", help="Sandbox template"),
    artifact: Annotated[
        list[str],
        typer.Option("--artifact", "-a", metavar="<path>", help="Path or glob (repeatable)"),
    ] = [],  # noqa: B006
    timeout: Annotated[int | None, typer.Option(help="Seconds before the run is stopped")] = None,
    keep_sandbox: bool = typer.Option(
        False, "--keep-sandbox", help="Keep the sandbox after the run ends"
    ),
    env: Annotated[
        list[str], typer.Option("--env", "-e", metavar="<K=V>", help="Environment (repeatable)")
    ] = [],  # noqa: B006
    out: Annotated[
        Path | None, typer.Option(help="Where artifacts and the evidence files go")
    ] = None,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON result on stdout"),
    cancel_on_interrupt: bool = typer.Option(
        False, "--cancel-on-interrupt", help="Ctrl-C cancels the run (else it goes on)"
    ),
    staged: bool = typer.Option(False, "--staged", help="Always use a staged transfer"),
    no_reuse: bool = typer.Option(
        False, "--no-reuse", help="Upload even when the service already has this archive"
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
    """Pack (if a directory), upload (unless the service already has the archive), run,
    stream output, save artifacts and evidence."""
    env_vars = parse_env(env)
    client = client_from_config()
    state: dict = {"run": None, "last": 0}

    upload_bar = UploadBar(err)
    # This command shows its own upload, measured where the bytes leave: the service's upload
    # events, replayed when the run is followed, would draw it a second time.
    archive_bar.skip.add("upload")

    def on_run(run):
        state["run"] = run
        err.print(f"[dim]--- run {run.id}[/dim]")
        if reused(run):
            upload_bar.stop()
            err.print(REUSING)

    def on_event(event: Event):
        upload_bar.stop()  # a dropped last report must not leave the bar standing
        state["last"] = event.seq
        state["ended"] = event.type == "terminal"
        print_event(event, to_stderr=as_json)

    try:
        try:
            result: RunResult = run_archive(
                client,
                path,
                command=command,
                template=template,
                artifact_paths=artifact,
                timeout_seconds=timeout,
                keep_sandbox=keep_sandbox,
                env=env_vars,
                out_dir=out,
                on_run=on_run,
                on_event=on_event,
                on_progress=upload_bar,
                upload_method="staged" if staged else "auto",
                reuse_archive=not no_reuse,
                network=network,
                replay_of=replay_of,
            )
        finally:
            upload_bar.stop()
    except KeyboardInterrupt:
        raise typer.Exit(interrupted(client, state, cancel_on_interrupt)) from None
    except RunNotStarted as exc:
        raise typer.Exit(not_started(exc, path)) from None
    except (CrownestError, httpx.HTTPError, OSError, ValueError) as exc:
        code = report_error(exc)
        if state["run"] is not None:  # it started: it goes on, or ended, without us
            err.print(after_start_hint(state))
        raise typer.Exit(code) from None
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    if out is not None:
        err.print(
            f"[dim]--- {len(result.artifacts)} artifact(s) and the evidence files in {out}"
            f" (check offline: crownest evidence verify {out})[/dim]"
        )
    raise typer.Exit(exit_code_for(result.terminal))


def resume_hint(state: dict) -> str:
    run_id = state["run"].id
    return (
        f"follow it with: crownest runs events {run_id} --after-seq {state['last']} --follow\n"
        f"cancel it with: crownest runs cancel {run_id}"
    )


def after_start_hint(state: dict) -> str:
    run_id = state["run"].id
    if state.get("ended"):
        return (
            f"the run has ended; fetch its outputs with: crownest artifacts download {run_id} "
            f"--out DIR, and its evidence with: crownest evidence get {run_id}"
        )
    return f"the run goes on without this command.\n{resume_hint(state)}"


def not_started(exc: RunNotStarted, source: Path) -> int:
    """The run was created but its upload or start failed: say so, and how it was left."""
    code = report_error(exc.cause)
    if exc.canceled:
        err.print(f"run {exc.run_id} could not start, so it was canceled (nothing is left waiting)")
        return code
    err.print(f"run {exc.run_id} could not start, and canceling it failed too: {exc.cancel_error}")
    err.print(f"it waits for its archive; cancel it with: crownest runs cancel {exc.run_id}")
    if source.is_file():
        err.print(
            f"or upload and start it: crownest runs upload {exc.run_id} {source} && "
            f"crownest runs start {exc.run_id}"
        )
    return code


def interrupted(client: Client, state: dict, cancel: bool) -> int:
    run = state["run"]
    if run is None:
        err.print("interrupted before the run was created; nothing is left behind")
        return EXIT_CANCELED
    if not started(client, run.id):
        return cancel_unstarted(client, run.id)
    if cancel:
        try:
            client.cancel(run.id)
            err.print(f"interrupted: cancel requested for {run.id}")
        except ApiError as exc:
            report_error(exc)
        return EXIT_CANCELED
    err.print(f"interrupted; the run goes on.\n{resume_hint(state)}")
    return EXIT_CANCELED


def started(client: Client, run_id: str) -> bool:
    """Whether the run was started (or cannot be asked: then assume so, and cancel nothing)."""
    try:
        return client.get_run(run_id).status not in ("awaiting_archive", "ready")
    except (CrownestError, httpx.HTTPError, OSError):
        return True


def cancel_unstarted(client: Client, run_id: str) -> int:
    try:
        client.cancel(run_id)
    except (CrownestError, httpx.HTTPError, OSError) as exc:
        err.print(f"interrupted before run {run_id} started; canceling it failed ({exc})")
        err.print(f"cancel it with: crownest runs cancel {run_id}")
        return EXIT_CANCELED
    err.print(f"interrupted before run {run_id} started, so it was canceled")
    return EXIT_CANCELED
