"""`crownest`: the one-shot `run-archive` and `login`; step-by-step commands in cli_steps.py.

Exit codes (docs/cli.md): the command's own exit code when it ran; 124 timeout; 130 canceled or
interrupted; 137 OOM-killed; 65 archive rejected; 70 other run failure (sandbox error, lost
worker, output limit); 69 service or API error; 77 not authenticated; 2 usage."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from . import config
from .client import Client
from .errors import ApiError, ArchiveRejected, CrownestError, NotAuthenticated
from .models import Event
from .oneshot import RunResult, run_archive

EXIT_USAGE, EXIT_REJECTED, EXIT_SERVICE, EXIT_RUN_ERROR, EXIT_AUTH = 2, 65, 69, 70, 77
EXIT_TIMEOUT, EXIT_CANCELED, EXIT_OOM = 124, 130, 137

app = typer.Typer(no_args_is_help=True, add_completion=False, help="CrowNest Workspace Runs.")
err = Console(stderr=True, highlight=False)


def client_from_config() -> Client:
    cfg = config.load()
    if not cfg.get("url") or not cfg.get("token"):
        err.print("not logged in: run `crownest login` or set CROWNEST_URL and CROWNEST_TOKEN")
        raise typer.Exit(EXIT_USAGE)
    return Client(cfg["url"], cfg["token"])


def exit_code_for(terminal: dict) -> int:
    status, reason = terminal.get("status"), terminal.get("failureReason")
    if status == "succeeded":
        return 0
    if status == "canceled":
        return EXIT_CANCELED
    if reason == "exit_code" and terminal.get("exitCode") is not None:
        return int(terminal["exitCode"])
    return {"timeout": EXIT_TIMEOUT, "oom_killed": EXIT_OOM, "archive_invalid": EXIT_REJECTED}.get(
        reason, EXIT_RUN_ERROR
    )


def exit_code_for_error(exc: BaseException) -> int:
    if isinstance(exc, ArchiveRejected):
        return EXIT_REJECTED
    if isinstance(exc, NotAuthenticated):
        return EXIT_AUTH
    return EXIT_SERVICE


def report_error(exc: BaseException) -> int:
    if isinstance(exc, ApiError):
        err.print(f"error: {exc.status} {exc.code}: {exc.message}")
        if exc.details:
            err.print(f"       details: {json.dumps(exc.details)}")
    else:
        err.print(f"error: {exc}")
    return exit_code_for_error(exc)


def print_event(event: Event, *, quiet_status=False, to_stderr=False) -> None:
    """stdout/stderr texts go to our stdout/stderr unchanged; everything else is a note on
    stderr, so that `crownest ... > out.txt` captures exactly the command's output."""
    if event.type in ("stdout", "stderr"):
        stream = sys.stderr if (to_stderr or event.type == "stderr") else sys.stdout
        stream.write(event.data.get("text", ""))
        stream.flush()
    elif quiet_status:
        return
    elif event.type == "status":
        err.print(f"[dim]--- {event.data.get('status')}[/dim]")
    elif event.type in ("artifact_collected", "artifact_error", "error"):
        err.print(f"[dim]--- {event.type}: {json.dumps(event.data)}[/dim]")
    elif event.type == "terminal":
        d = event.data
        err.print(
            f"[bold]--- {d.get('status')}[/bold] exit code {d.get('exitCode')}"
            f" ({d.get('failureReason') or 'ok'}, {d.get('durationSeconds')} s)"
        )


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected K=V, got {pair!r}", param_hint="--env")
        env[key] = value
    return env


@app.command()
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


@app.command("run-archive")
def run_archive_cmd(
    path: Annotated[Path, typer.Argument(exists=True, help="A directory or a .tar.gz/.tgz")],
    command: Annotated[str, typer.Option("--command", "-c", help="Run under /bin/sh -c")],
    template: str = typer.Option("python-node", help="Sandbox template"),
    artifact: Annotated[list[str], typer.Option("--artifact", "-a", help="Path or glob")] = [],  # noqa: B006
    timeout: Annotated[int | None, typer.Option(help="Seconds before the run is stopped")] = None,
    keep_sandbox: bool = typer.Option(False, "--keep-sandbox"),
    env: Annotated[list[str], typer.Option("--env", "-e", help="K=V")] = [],  # noqa: B006
    out: Annotated[Path | None, typer.Option(help="Where artifacts and evidence.json go")] = None,
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
        err.print(f"[dim]--- {len(result.artifacts)} artifact(s) and evidence.json in {out}[/dim]")
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


def main() -> None:
    from . import cli_steps  # noqa: F401  (registers the step-by-step commands)

    app()


if __name__ == "__main__":
    main()
