"""The one-shot commands: `login` and `run-archive` (registered in cli.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from . import config
from .cli_common import (
    EXIT_CANCELED,
    client_from_config,
    err,
    exit_code_for,
    parse_env,
    print_event,
    report_error,
)
from .client import Client
from .errors import ApiError, CrownestError
from .models import Event
from .oneshot import RunResult, run_archive


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
    artifact: Annotated[list[str], typer.Option("--artifact", "-a", help="Path or glob")] = [],  # noqa: B006
    timeout: Annotated[int | None, typer.Option(help="Seconds before the run is stopped")] = None,
    keep_sandbox: bool = typer.Option(False, "--keep-sandbox"),
    env: Annotated[list[str], typer.Option("--env", "-e", help="K=V")] = [],  # noqa: B006
    out: Annotated[
        Path | None, typer.Option(help="Where artifacts and the evidence files go")
    ] = None,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON result on stdout"),
    cancel_on_interrupt: bool = typer.Option(False, "--cancel-on-interrupt"),
    staged: bool = typer.Option(False, "--staged", help="Always use a staged transfer"),
):
    """Pack (if a directory), upload, run, stream output, save artifacts and evidence."""
    env_vars = parse_env(env)
    client = client_from_config()
    state: dict = {"run": None, "last": 0}

    def on_run(run):
        state["run"] = run
        err.print(f"[dim]--- run {run.id}[/dim]")

    def on_event(event: Event):
        state["last"] = event.seq
        print_event(event, to_stderr=as_json)

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err,
        transient=True,
        redirect_stdout=False,  # live command output must not pass through the bar
        redirect_stderr=False,
    )
    task = progress.add_task("upload", total=None)
    try:
        with progress:
            result: RunResult | None = None

            def on_progress(done, total):
                progress.update(task, completed=done, total=total)
                if done >= total:
                    progress.stop()

            result = run_archive(
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
                on_progress=on_progress,
                upload_method="staged" if staged else "auto",
            )
    except KeyboardInterrupt:
        raise typer.Exit(interrupted(client, state, cancel_on_interrupt)) from None
    except (CrownestError, httpx.HTTPError, OSError) as exc:
        raise typer.Exit(report_error(exc)) from None
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    if out is not None:
        err.print(
            f"[dim]--- {len(result.artifacts)} artifact(s) and the evidence files in {out}"
            f" (check offline: crownest evidence verify {out})[/dim]"
        )
    raise typer.Exit(exit_code_for(result.terminal))


def interrupted(client: Client, state: dict, cancel: bool) -> int:
    run = state["run"]
    if run is None:
        err.print("interrupted before the run was created")
        return EXIT_CANCELED
    if cancel:
        try:
            client.cancel(run.id)
            err.print(f"interrupted: cancel requested for {run.id}")
        except ApiError as exc:
            report_error(exc)
        return EXIT_CANCELED
    err.print(
        f"interrupted; the run goes on. Resume with:\n"
        f"  crownest runs events {run.id} --after-seq {state['last']} --follow\n"
        f"cancel it with: crownest runs cancel {run.id}"
    )
    return EXIT_CANCELED
