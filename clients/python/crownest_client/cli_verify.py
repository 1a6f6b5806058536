"""`crownest evidence verify RUN_ID_OR_DIR`: the seven checks of docs/evidence.md (verify.py).
A directory is checked offline, with no network at all; a run id is downloaded first (the four
evidence files and every artifact) into a temporary folder, then checked the same way.
Exit 0 when every check holds, 1 when one fails (named), else the usual API/usage codes."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .cli_common import EXIT_NOT_VERIFIED, EXIT_USAGE, api_call, err
from .oneshot import save_evidence

if TYPE_CHECKING:
    from .verify import Verdict

SERVED_KEYS_NOTE = (
    "the trusted keys came from the service itself (GET /api/v1/evidence-keys);"
    " pin one with --key for a check that does not rely on it"
)


def evidence_verify(
    target: Annotated[
        str,
        typer.Argument(
            metavar="RUN_ID_OR_DIR",
            help="A folder saved by `run-archive --out` (checked offline), or a run id",
        ),
    ],
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            exists=True,
            dir_okay=False,
            help="Trust only this public key (PEM, or a saved evidence-keys.json)",
        ),
    ] = None,
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON"),
):
    """Check an Evidence Bundle against its signed attestation, event log and artifacts."""
    from .verify import verify_folder  # cryptography: loaded only for this command

    folder = Path(target)
    if folder.is_dir():
        verdict = verify_folder(folder, key_file=key)
    elif folder.exists() or "/" in target or "\\" in target:
        err.print(f"{target}: not a directory (give a folder saved with --out, or a run id)")
        raise typer.Exit(EXIT_USAGE)
    else:
        with tempfile.TemporaryDirectory(prefix="crownest-evidence-") as tmp:
            api_call(lambda c: save_evidence(c, target, tmp, artifacts=True))
            verdict = verify_folder(tmp, key_file=key)
        if key is None:
            verdict.notes.append(SERVED_KEYS_NOTE)
    if as_json:
        sys.stdout.write(json.dumps(verdict.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(render(verdict))
    raise typer.Exit(0 if verdict.ok else EXIT_NOT_VERIFIED)


def render(verdict: Verdict) -> str:
    """One line per check (ok / FAIL / not run), the notes, then the verdict line."""
    from .verify import CHECKS

    lines = [f"evidence of run {verdict.run_id or '?'}"]
    failed = verdict.failure.check if verdict.failure else None
    if failed and failed not in CHECKS:
        lines.append(f"  FAIL  {failed:<10} {verdict.failure.message}")
    for check in CHECKS:
        if check in verdict.checks:
            lines.append(f"  ok    {check:<10} {verdict.details.get(check, '')}".rstrip())
        elif check == failed:
            lines.append(f"  FAIL  {check:<10} {verdict.failure.message}")
        else:
            lines.append(f"  -     {check:<10} not checked")
    lines += [f"  note: {note}" for note in verdict.notes]
    if verdict.ok:
        lines.append("VERIFIED: every check holds")
    else:
        lines.append(f"NOT VERIFIED: {failed}: {verdict.failure.message}")
    return "\n".join(lines) + "\n"
