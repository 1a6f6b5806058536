"""archive_progress events, throttled: upload, verify and extract all report through this."""

from . import events


class ArchiveProgress:
    """Turns byte counts into archive_progress events, at most one per step of the total."""

    def __init__(
        self, run_id: str, phase: str, total: int, steps: int = 10, done: int = 0, **facts
    ):
        self.run_id, self.phase, self.total = run_id, phase, total
        self.facts = facts  # fixed fields every report carries (extract: expandedBytes)
        self.step = max(total // steps, 1)
        # A resumed upload continues from `done`: its next report is at the next step after it.
        self.next = (done // self.step + 1) * self.step

    def __call__(self, done: int, files: int | None = None, force: bool = False) -> None:
        if done < self.next and not force:
            return
        self.next = (done // self.step + 1) * self.step
        data = {"phase": self.phase, "bytesDone": done, "bytesTotal": self.total, **self.facts}
        if files is not None:
            data["filesDone"] = files
        events.append(self.run_id, [("archive_progress", data)])
