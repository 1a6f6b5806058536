"""Progress on the terminal (stderr), drawn only when stderr is a terminal: logs and scripts see
no bar noise. Two bars, one look and one unit system (binary: KiB, MiB, GiB):

- UploadBar: `run-archive`'s own upload, measured here (bytes sent over the time they took).
- ArchiveProgressBar: the service's `archive_progress` events (upload, verification, extraction
  into /workspace) while a run is followed. Rates come from the events' own timestamps, so a
  replay of events that arrive in one burst still shows what the service measured; a step
  shorter than MIN_RATE_SECONDS shows no rate at all rather than an invented one.

Both are transient: they go when the step is done (or the command's first output arrives)."""

from __future__ import annotations

import time
from datetime import datetime

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from .models import Event

TITLES = {
    "upload": "uploading the archive",
    "verify": "verifying the archive",
    "pull": "pulling the template image",
    "extract": "extracting into /workspace",
}
UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
# Below this, a rate says more about clocks and batching than about the work: none is shown.
MIN_RATE_SECONDS = 0.2


def size_text(n: float) -> str:
    """Bytes in binary units, the one unit system of the CLI and the pages: 512 B, 40.4 MiB."""
    for unit in UNITS:
        if n < 1024 or unit == UNITS[-1]:
            return f"{n:.0f} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def rate_text(nbytes: float, seconds: float | None) -> str:
    """`12.3 MiB/s` for bytes done over a measured time; "" when the time is too short to say."""
    if seconds is None or seconds < MIN_RATE_SECONDS or nbytes <= 0:
        return ""
    return f"{size_text(nbytes / seconds)}/s"


def _timestamp(text: str | None) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp() if text else None
    except ValueError:
        return None


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[dim]---[/dim] {task.description}"),
        BarColumn(),
        TextColumn("{task.fields[size]}"),
        TextColumn("{task.fields[rate]}"),
        TextColumn("{task.fields[files]}"),
        console=console,
        transient=True,
        redirect_stdout=False,  # the command's output must not pass through the bar
        redirect_stderr=False,
    )


class UploadBar:
    """`on_progress(done, total)` for an upload: appears at its first report, goes at its end."""

    def __init__(self, console: Console, clock=time.monotonic):
        self.console, self.clock = console, clock
        self.progress: Progress | None = None
        self.task = None
        self.started: float | None = None
        self.finished = False

    def __call__(self, done: int, total: int) -> None:
        if self.finished or not self.console.is_terminal:
            return
        if self.progress is None:
            self.started = self.clock()
            self.progress = _progress(self.console)
            self.progress.start()
            self.task = self.progress.add_task(TITLES["upload"], total=total, **_fields())
        self.progress.update(self.task, completed=done, total=total, **self.line(done, total))
        if done >= total:
            self.stop()

    def line(self, done: int, total: int) -> dict:
        return _fields(
            size=f"{size_text(done)} / {size_text(total)}",
            rate=rate_text(done, None if self.started is None else self.clock() - self.started),
        )

    def stop(self) -> None:
        self.finished = True
        if self.progress is not None:
            self.progress.stop()
        self.progress = None


def _fields(size: str = "", rate: str = "", files: str = "") -> dict:
    return {"size": size, "rate": rate, "files": files}


class ArchiveProgressBar:
    def __init__(self, console: Console):
        self.console = console
        self.progress: Progress | None = None
        self.task = None
        self.phase: str | None = None
        self.first: tuple[float | None, int] = (None, 0)  # the phase's first event: time, bytes
        self.total_files: int | None = None
        self.skip: set[str] = set()  # phases already shown another way (our own upload)

    def __call__(self, event: Event) -> bool:
        """Show an archive_progress event; True when it was one (handled, drawn or not)."""
        if event.type != "archive_progress":
            self.stop()
            return False
        data = event.data
        if data.get("phase") == "verify" and data.get("filesDone") is not None:
            self.total_files = data["filesDone"]
        if self.console.is_terminal and data.get("phase") not in self.skip:
            self._draw(data, _timestamp(event.timestamp))
        return True

    def line(self, data: dict, at: float | None) -> dict:
        """What the bar says for this event: sizes, the measured rate, files."""
        phase, done = data.get("phase", ""), data.get("bytesDone", 0)
        if phase != self.phase:
            self.phase, self.first = phase, (at, done)
        total = data.get("bytesTotal")
        size = f"{size_text(done)} / {size_text(total)}" if total else size_text(done)
        if phase == "extract":
            size += " compressed"  # the archive fed to tar; it expands to more on disk
        since, from_bytes = self.first
        elapsed = at - since if at is not None and since is not None else None
        files = data.get("filesDone")
        of = f" of {self.total_files:,}" if phase == "extract" and self.total_files else ""
        return _fields(
            size=size,
            rate=rate_text(done - from_bytes, elapsed),
            files=f"{files:,}{of} files" if files is not None else "",
        )

    def _draw(self, data: dict, at: float | None) -> None:
        if self.progress is None:
            self.progress = _progress(self.console)
            self.progress.start()
        new_phase = data.get("phase", "") != self.phase or self.task is None
        fields = self.line(data, at)
        if new_phase:
            if self.task is not None:
                self.progress.remove_task(self.task)
            title = TITLES.get(self.phase, self.phase)
            self.task = self.progress.add_task(title, total=None, **_fields())
        self.progress.update(
            self.task,
            completed=data.get("bytesDone", 0),
            total=data.get("bytesTotal") or None,
            **fields,
        )

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
        self.progress, self.task, self.phase = None, None, None
