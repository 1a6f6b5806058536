"""Presigned transfers: each part PUT straight to object storage at its own URL (no
Authorization header: the URL is the credential), several at a time, streamed from the file.

A resume asks the server which parts storage already holds (storedParts) and sends only the
others; complete then names every part with its ETag."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from .errors import StreamError

READ = 1 << 20
Progress = Callable[[int, int], None] | None


def _body(path: Path, start: int, end: int):
    """The bytes start..end (inclusive) of the file, read in 1 MiB pieces."""
    with open(path, "rb") as fh:
        fh.seek(start)
        left = end - start + 1
        while left > 0:
            piece = fh.read(min(READ, left))
            if not piece:
                raise StreamError(f"{path} is shorter than the declared size")
            left -= len(piece)
            yield piece


class PartSender:
    """Sends the missing parts of one presigned transfer; remembers every part's ETag."""

    def __init__(self, api, storage: httpx.Client, path: Path, concurrency: int, on_progress):
        self.api, self.storage, self.path = api, storage, Path(path)
        self.concurrency, self.on_progress = max(1, concurrency), on_progress
        self.etags: dict[int, str] = {}
        self.done = 0
        self.lock = threading.Lock()

    def _put(self, part: dict, total: int) -> None:
        length = part["end"] - part["start"] + 1
        resp = self.storage.put(
            part["url"],
            content=_body(self.path, part["start"], part["end"]),
            headers={"Content-Length": str(length)},
        )
        if resp.status_code >= 300:
            raise StreamError(f"storage refused part {part['partNumber']}: {resp.status_code}")
        with self.lock:
            self.etags[part["partNumber"]] = resp.headers["ETag"]
            self.done += length
            if self.on_progress:
                self.on_progress(self.done, total)

    def _pages(self, transfer: dict):
        """Every page of part URLs, the first from the transfer itself."""
        page = {"parts": transfer.get("parts") or [], "nextFrom": transfer.get("nextFrom")}
        while True:
            yield page["parts"]
            if page.get("nextFrom") is None:
                return
            page = self.api.transfer_parts(transfer["id"], page["nextFrom"])

    def send_pass(self, transfer: dict) -> list[Exception]:
        """Send every part that storage does not hold yet; the failures, not raised."""
        total = transfer["sizeBytes"]
        stored = {p["partNumber"]: p for p in transfer.get("storedParts") or []}
        for number, part in stored.items():
            self.etags[number] = part["etag"]
        self.done = sum(p["sizeBytes"] for p in stored.values())
        failures: list[Exception] = []

        def one(part):
            try:
                self._put(part, total)
            except (httpx.TransportError, StreamError) as exc:
                with self.lock:
                    failures.append(exc)

        with ThreadPoolExecutor(self.concurrency) as pool:
            for parts in self._pages(transfer):
                todo = [p for p in parts if p["partNumber"] not in stored]
                list(pool.map(one, todo))
        return failures


def upload_presigned(api, transfer: dict, path, *, concurrency=4, on_progress=None, retries=5):
    """Send the parts (resuming from those stored), retrying a failed pass from the server's
    list of stored parts; returns the complete body's part list."""
    sender = PartSender(api, api.storage, path, concurrency, on_progress)
    count = transfer["partCount"]
    for attempt in range(retries + 1):
        failures = sender.send_pass(transfer)
        if not failures:
            return [{"partNumber": n, "etag": sender.etags[n]} for n in range(1, count + 1)]
        if attempt == retries:
            raise StreamError(f"transfer {transfer['id']}: parts keep failing ({failures[0]})")
        time.sleep(min(0.2 * 2**attempt, 5))
        # What storage holds now, with fresh URLs for the rest.
        transfer = api.get_transfer(transfer["id"]).raw
    raise AssertionError("unreachable")
