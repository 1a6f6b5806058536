"""What the CLI says about progress is so: rates are bytes over a measured time (none when the
step was too short to measure), one unit system (binary), no second upload bar after our own
upload; and `--help` shows flags as flags. Drawn on a real rich terminal console."""

import io
import re
import subprocess

import typer
from crownest_client.cli import app
from crownest_client.cli_progress import (
    MIN_RATE_SECONDS,
    ArchiveProgressBar,
    UploadBar,
    rate_text,
    size_text,
)
from crownest_client.models import Event
from rich.console import Console

from .helpers import CLI

MIB = 1024 * 1024
TOTAL = int(40.4 * MIB)  # the archive of the report: 40.4 MiB


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=160, color_system=None), out


def progress(seq, phase, done, at, files=None, total=TOTAL) -> Event:
    data = {"phase": phase, "bytesDone": done, "bytesTotal": total}
    if files is not None:
        data["filesDone"] = files
    return Event(seq, "archive_progress", f"2026-05-01T12:00:{at:06.3f}Z", data)


def test_sizes_and_rates_are_binary_and_measured():
    assert size_text(512) == "512 B"
    assert size_text(TOTAL) == "40.4 MiB"
    assert size_text(3 * 1024 * MIB) == "3.0 GiB"
    assert rate_text(30 * MIB, 2.0) == "15.0 MiB/s"
    # Too short to measure, or nothing done: no rate, never an invented one.
    assert rate_text(TOTAL, MIN_RATE_SECONDS / 2) == "" and rate_text(TOTAL, 0) == ""
    assert rate_text(0, 5.0) == "" and rate_text(TOTAL, None) == ""


def test_a_verification_replayed_in_one_burst_shows_no_invented_rate():
    """The report: "verifying the archive … 40.4/40.4 MiB 181.5 GB/s". The events of a step that
    took 5 ms arrive together; the rate comes from their own timestamps, and 5 ms is no time."""
    console, out = terminal()
    bar = ArchiveProgressBar(console)
    lines = []
    for seq, (done, at) in enumerate([(TOTAL // 4, 1.000), (TOTAL // 2, 1.002), (TOTAL, 1.005)]):
        event = progress(seq + 1, "verify", done, at, files=18015 if done == TOTAL else None)
        lines.append(bar.line(event.data, _at(event)))
        assert bar(event)
    assert [x["rate"] for x in lines] == ["", "", ""]
    assert lines[-1]["size"] == "40.4 MiB / 40.4 MiB"
    bar(Event(4, "stdout", "2026-05-01T12:00:02Z", {"text": "hi\n"}))  # the bar goes
    drawn = out.getvalue()
    assert "verifying the archive" in drawn and "40.4 MiB / 40.4 MiB" in drawn
    assert "/s" not in drawn and not re.search(r"\b[kMG]B\b", drawn)


def test_a_measured_step_shows_bytes_over_its_time():
    bar = ArchiveProgressBar(terminal()[0])
    first = progress(1, "verify", 10 * MIB, 1.0)
    bar.line(first.data, _at(first))
    later = progress(2, "verify", 40 * MIB, 3.0)
    assert bar.line(later.data, _at(later))["rate"] == "15.0 MiB/s"  # 30 MiB in 2 s


def test_extraction_names_the_compressed_bytes_and_counts_files_of_the_total():
    bar = ArchiveProgressBar(terminal()[0])
    assert bar(progress(1, "verify", TOTAL, 1.0, files=18015))
    event = progress(2, "extract", TOTAL // 2, 2.0, files=9000)
    line = bar.line(event.data, _at(event))
    assert line["size"] == "20.2 MiB / 40.4 MiB compressed"
    assert line["files"] == "9,000 of 18,015 files"


def test_no_second_upload_bar_after_our_own_upload():
    """run-archive draws its own upload; the service's upload events, replayed when the run is
    followed, are not drawn again (the report: a second "uploading the archive … 0/? bytes")."""
    console, out = terminal()
    ticks = iter([0.0, 1.0, 2.0])
    upload = UploadBar(console, clock=lambda: next(ticks))
    upload(TOTAL // 2, TOTAL)
    upload(TOTAL, TOTAL)  # done: the bar goes
    upload(TOTAL, TOTAL)  # a late report draws nothing
    drawn = out.getvalue()
    assert drawn.count("uploading the archive") >= 1 and "MiB" in drawn
    assert "20.2 MiB/s" in drawn  # 40.4 MiB over the 2 s it took (the half: over 1 s)
    out.truncate(0)
    bar = ArchiveProgressBar(console)
    bar.skip.add("upload")
    assert bar(progress(1, "upload", TOTAL, 1.0))  # handled (not printed as an event) ...
    assert "uploading" not in out.getvalue()  # ... but not drawn
    assert bar(progress(2, "verify", TOTAL, 1.5, files=3))
    assert "verifying the archive" in out.getvalue()
    bar.stop()


def test_nothing_is_drawn_when_stderr_is_not_a_terminal():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False)
    UploadBar(console)(1, 2)
    assert ArchiveProgressBar(console)(progress(1, "verify", 1, 1.0))
    assert out.getvalue() == ""


def commands(group, prefix=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer's own click classes)
            yield from commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def test_help_shows_flags_as_flags():
    """`--json`, `--no-reuse`, `--help` take no value, and --help says so: no `<bool>`."""
    every = dict(commands(typer.main.get_command(app)))
    assert ("run-archive",) in every and ("runs", "rerun") in every
    for path, command in every.items():
        res = subprocess.run([CLI, *path, "--help"], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        assert "<bool>" not in res.stdout and "bool" not in res.stdout.lower(), (path, res.stdout)
        for param in command.params:
            if getattr(param, "is_flag", False):
                for opt in param.opts:
                    line = next(
                        x for x in res.stdout.splitlines() if opt in x.replace(",", " ").split()
                    )
                    after = line.split(opt, 1)[1].split("  ")[0].strip(" ,")
                    assert not after.startswith("<"), (path, line)
    usage = subprocess.run([CLI, "run-archive", "--help"], capture_output=True, text=True).stdout
    assert re.search(r"^\s+--json\s+Print a JSON result", usage, re.M), usage
    assert re.search(r"^\s+--no-reuse\s+Upload even", usage, re.M), usage


def _at(event: Event) -> float:
    from datetime import datetime

    return datetime.fromisoformat(event.timestamp).timestamp()
