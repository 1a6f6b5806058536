"""Turns the sandbox's multiplexed output into stdout/stderr events, in adaptive batches."""

import codecs
import time
import uuid

from django.conf import settings

from ops import metrics

from ..dbretry import db_retry
from ..stream import events


def split_text(text: str, limit: int) -> list[str]:
    """Chunks of at most `limit` characters, cut after a newline where one is near."""
    pieces = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit) + 1 or limit
        pieces.append(text[:cut])
        text = text[cut:]
    if text:
        pieces.append(text)
    return pieces


# A batch is written at once past this many characters, whatever the gap: memory stays bounded
# and one transaction never grows past a few hundred kilobytes.
MAX_PENDING_CHARS = 256 * 1024


class OutputPump:
    """Collects output between flushes; one flush is one transaction for many lines.

    Adaptive: output is flushed as soon as it is read when the previous flush ended at least
    CROWNEST_FLUSH_SECONDS ago (a few ms), so a command that prints slowly reaches viewers at
    once. When it floods, what arrives while a flush is in flight, or within that gap after it,
    waits for the next one, so the batches grow with the rate and the commits per second stay
    bounded. Consecutive writes to the same stream are merged, so the relative order of stdout
    and stderr is kept."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.decoders = {
            name: codecs.getincrementaldecoder("utf-8")(errors="replace")
            for name in ("stdout", "stderr")
        }
        self.pending: list[list] = []  # [stream, text]
        self.pending_chars = 0
        self.total_bytes = 0
        self.limit = settings.CROWNEST_OUTPUT_LIMIT
        self.capped = False
        self.last_flush = float("-inf")  # the first output goes out at once

    def feed(self, stream: str, data: bytes) -> None:
        if self.capped:
            metrics.output_drop(len(data), capped_now=False)
            return
        room = self.limit - self.total_bytes
        if len(data) > room:
            metrics.output_drop(len(data) - room, capped_now=True)
            data = data[:room]
            self.capped = True
        self.total_bytes += len(data)
        text = self.decoders[stream].decode(data)
        if text:
            if self.pending and self.pending[-1][0] == stream:
                self.pending[-1][1] += text
            else:
                self.pending.append([stream, text])
            self.pending_chars += len(text)
        if self.capped:
            self._finish_decoders()
            self.pending.append(
                [
                    "error",
                    {
                        "code": "output_limit",
                        "message": f"Output passed the limit of {self.limit} bytes; "
                        "the rest is dropped.",
                    },
                ]
            )

    def _finish_decoders(self):
        for stream, dec in self.decoders.items():
            tail = dec.decode(b"", final=True)
            if tail:
                self.pending.append([stream, tail])

    @property
    def full(self) -> bool:
        return self.pending_chars >= MAX_PENDING_CHARS

    def wait_seconds(self, idle: float) -> float:
        """How long the loop may wait for more output before this pump is due (`idle` when
        nothing is pending)."""
        if not self.pending:
            return idle
        if self.full:
            return 0.0
        return max(0.0, self.last_flush + settings.CROWNEST_FLUSH_SECONDS - time.monotonic())

    def due(self) -> bool:
        return bool(self.pending) and self.wait_seconds(0.0) == 0.0

    def flush(self, final: bool = False) -> None:
        if final and not self.capped:
            self._finish_decoders()
        items = []
        for stream, payload in self.pending:
            if stream == "error":
                items.append(("error", payload))
                continue
            for piece in split_text(payload, settings.CROWNEST_EVENT_CHUNK):
                items.append((stream, {"text": piece}))
        self.pending, self.pending_chars = [], 0
        # One token per batch, kept across retries: a batch that did commit is not written twice.
        db_retry(events.append, self.run_id, items, token=uuid.uuid4().hex)
        # The gap counts from the end of the commit: output read meanwhile is the next batch.
        self.last_flush = time.monotonic()
