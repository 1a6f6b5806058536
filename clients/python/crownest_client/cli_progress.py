"""The archive's progress while a run is followed: `archive_progress` events (upload,
verification, extraction into /workspace) as a rich progress bar on stderr. Only on a terminal:
when stderr is piped or redirected nothing is drawn, so logs and scripts see no bar noise. The
bar is transient: it goes when the command's first output (or any other event) arrives."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from .models import Event

TITLES = {
    "upload": "uploading the archive",
    "verify": "verifying the archive",
    "extract": "extracting into /workspace",
}


class ArchiveProgressBar:
    def __init__(self, console: Console):
        self.console = console
        self.progress: Progress | None = None
        self.task = None
        self.phase: str | None = None

    def __call__(self, event: Event) -> bool:
        """Show an archive_progress event; True when it was one (handled, drawn or not)."""
        if event.type != "archive_progress":
            self.stop()
            return False
        if self.console.is_terminal:
            self._draw(event.data)
        return True

    def _draw(self, data: dict) -> None:
        if self.progress is None:
            self.progress = Progress(
                TextColumn("[dim]---[/dim] {task.description}"),
                BarColumn(),
                DownloadColumn(binary_units=True),
                TransferSpeedColumn(),
                TextColumn("{task.fields[files]}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
                redirect_stdout=False,  # the command's output must not pass through the bar
                redirect_stderr=False,
            )
            self.progress.start()
        phase = data.get("phase", "")
        if phase != self.phase:
            if self.task is not None:
                self.progress.remove_task(self.task)
            self.phase = phase
            self.task = self.progress.add_task(TITLES.get(phase, phase), total=None, files="")
        files = data.get("filesDone")
        self.progress.update(
            self.task,
            completed=data.get("bytesDone", 0),
            total=data.get("bytesTotal") or None,
            files=f"{files:,} files" if files is not None else "",
        )

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
        self.progress, self.task, self.phase = None, None, None
