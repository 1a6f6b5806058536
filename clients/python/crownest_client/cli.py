"""`crownest`: builds the command tree and runs it. The commands live in cli_oneshot.py
(`login`, `run-archive`), cli_steps.py (`runs ...`, `artifacts ...`, `evidence get`,
`templates`, `usage`) and cli_verify.py (`evidence verify`); what they share (exit codes, the
configured client, error reporting) in cli_common.py. This module imports them; none imports it."""

from __future__ import annotations

import typer

from . import cli_oneshot, cli_steps, cli_verify

# Plain help (rich_markup_mode=None): typer's rich help shows every flag with a `<bool>` value it
# does not take (`--json <bool>`); click's own help shows flags as flags.
PLAIN = {"no_args_is_help": True, "rich_markup_mode": None}
app = typer.Typer(add_completion=False, help="CrowNest Workspace Runs.", **PLAIN)
runs_app = typer.Typer(help="Create, upload, start, watch, cancel runs.", **PLAIN)
artifacts_app = typer.Typer(help="List and download artifacts.", **PLAIN)
evidence_app = typer.Typer(help="Evidence Bundles.", **PLAIN)

app.command("login")(cli_oneshot.login)
app.command("run-archive")(cli_oneshot.run_archive_cmd)
app.command("templates")(cli_steps.templates)
app.command("usage")(cli_steps.usage)

runs_app.command("create")(cli_steps.runs_create)
runs_app.command("upload")(cli_steps.runs_upload)
runs_app.command("start")(cli_steps.runs_start)
runs_app.command("get")(cli_steps.runs_get)
runs_app.command("cancel")(cli_steps.runs_cancel)
runs_app.command("rerun")(cli_steps.runs_rerun)
runs_app.command("list")(cli_steps.runs_list)
runs_app.command("events")(cli_steps.runs_events)

artifacts_app.command("list")(cli_steps.artifacts_list)
artifacts_app.command("download")(cli_steps.artifacts_download)

evidence_app.command("get")(cli_steps.evidence_get)
evidence_app.command("verify")(cli_verify.evidence_verify)

app.add_typer(runs_app, name="runs")
app.add_typer(artifacts_app, name="artifacts")
app.add_typer(evidence_app, name="evidence")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
