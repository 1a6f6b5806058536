"""What every `crownest` command shares: exit codes, the stderr console, the configured client,
error reporting and event printing. Command modules import this; nothing here imports them.

Exit codes (docs/cli.md): the command's own exit code when it ran; 124 timeout; 130 canceled or
interrupted; 137 OOM-killed; 65 archive rejected; 70 other run failure (sandbox error, lost
worker, output limit); 69 service or API error; 77 not authenticated; 2 usage; 1 for
`evidence verify` when the evidence does not verify."""

from __future__ import annotations

import json
import sys

import httpx
import typer
from rich.console import Console

from . import config
from .cli_progress import ArchiveProgressBar
from .client import Client
from .errors import ApiError, ArchiveRejected, CrownestError, NotAuthenticated
from .models import Event

EXIT_USAGE, EXIT_REJECTED, EXIT_SERVICE, EXIT_RUN_ERROR, EXIT_AUTH = 2, 65, 69, 70, 77
EXIT_TIMEOUT, EXIT_CANCELED, EXIT_OOM = 124, 130, 137
EXIT_NOT_VERIFIED = 1
TERMINAL = ("succeeded", "failed", "canceled")

# soft_wrap: a line is never broken at the console's width (80 when piped): the commands that
# notes print must copy and paste whole.
err = Console(stderr=True, highlight=False, soft_wrap=True)
archive_bar = ArchiveProgressBar(err)  # archive_progress on a terminal; nothing when piped


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
    if archive_bar(event):
        return
    if event.type in ("stdout", "stderr"):
        to_err = to_stderr or event.type == "stderr"
        text = event.data.get("text", "")
        stream = sys.stderr if to_err else sys.stdout
        stream.write(text)
        stream.flush()
        if text:
            OPEN_LINE["err" if to_err else "out"] = not text.endswith("\n")
    elif quiet_status:
        return
    elif event.type == "status":
        if event.data.get("status") not in TERMINAL:  # the terminal event's line says it once
            note(f"[dim]--- {event.data.get('status')}[/dim]")
    elif event.type in ("artifact_collected", "artifact_error", "error"):
        note(f"[dim]--- {event.type}: {json.dumps(event.data)}[/dim]")
    elif event.type == "terminal":
        note(result_line(event.data))


# Whether the command's output last left a line unfinished (no final newline), per stream.
OPEN_LINE = {"out": False, "err": False}


def note(text: str) -> None:
    """A note on stderr, always on a line of its own: after output that did not end its line
    (on stderr, or on stdout when both show on one terminal), a newline on stderr first."""
    same_screen = sys.stdout.isatty() and sys.stderr.isatty()
    if OPEN_LINE["err"] or (OPEN_LINE["out"] and same_screen):
        sys.stderr.write("\n")
        OPEN_LINE.update(out=False, err=False)
    err.print(text)


def duration_text(seconds: float) -> str:
    """The one way the CLI writes a duration: seconds with one decimal (`4.9 s`, `46.7 s`)."""
    return f"{seconds:.1f} s"


def result_line(terminal: dict) -> str:
    """`--- failed (exit code 3, 1.2 s)`: the run's one result line; parts that are not known
    (no exit code for a run canceled before its command ran) are left out, never "None"."""
    parts = []
    if terminal.get("exitCode") is not None:
        parts.append(f"exit code {terminal['exitCode']}")
    reason = terminal.get("failureReason")
    if reason and reason != "exit_code":
        parts.append(reason.replace("_", " "))
    if terminal.get("durationSeconds") is not None:
        parts.append(duration_text(terminal["durationSeconds"]))
    said = f" ({', '.join(parts)})" if parts else ""
    return f"[bold]--- {terminal.get('status')}[/bold]{said}"


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected K=V, got {pair!r}", param_hint="--env")
        env[key] = value
    return env


def emit(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def api_call(fn):
    """Run fn(client); map errors to the documented exit codes."""
    client = client_from_config()
    try:
        return fn(client)
    except (CrownestError, httpx.HTTPError, OSError) as exc:
        raise typer.Exit(report_error(exc)) from None
    finally:
        client.close()
