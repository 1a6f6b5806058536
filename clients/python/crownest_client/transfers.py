"""The calls of staged transfers (a mixin of Client): create, resume, parts, complete, abort, and
the whole upload, chunked through the server or presigned straight to object storage."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from .errors import ApiError, StreamError, TransferConflict
from .models import Run, Transfer
from .presigned import upload_presigned

Progress = Callable[[int, int], None] | None
UPLOAD_CHUNK = 256 * 1024


class TransferCalls:
    """Needs self._call (an API call that raises typed errors) and self.storage (an httpx
    client without credentials, for presigned URLs)."""

    def create_transfer(self, run_id: str, *, mode: str | None = None) -> Transfer:
        """mode="chunked" sends the bytes through the server even when storage could take them."""
        body = {"mode": mode} if mode else None
        resp = self._call("POST", f"/workspace-runs/{run_id}/transfers", json=body)
        return Transfer.from_json(resp.json())

    def transfer_parts(self, transfer_id: str, start: int = 1) -> dict:
        """A page of part URLs of a presigned transfer, from part `start` on."""
        return self._call("GET", f"/transfers/{transfer_id}/parts", params={"from": start}).json()

    def get_transfer(self, transfer_id: str) -> Transfer:
        return Transfer.from_json(self._call("GET", f"/transfers/{transfer_id}").json())

    def complete_transfer(self, transfer_id: str, parts: list[dict] | None = None) -> Run:
        body = {"parts": parts} if parts is not None else None
        resp = self._call("POST", f"/transfers/{transfer_id}/complete", json=body)
        return Run.from_json(resp.json())

    def abort_transfer(self, transfer_id: str) -> None:
        self._call("DELETE", f"/transfers/{transfer_id}")

    def upload_chunk(self, transfer: Transfer, data: bytes, start: int, total: int) -> int:
        """PUT one chunk; returns the server's receivedBytes."""
        end = start + len(data) - 1
        resp = self._call(
            "PUT",
            transfer.upload_url,  # absolute or server-relative: httpx resolves both
            content=data,
            headers={
                "Content-Range": f"bytes {start}-{end}/{total}",
                "Content-Type": "application/octet-stream",
            },
        )
        return int(resp.json()["receivedBytes"])

    def upload_staged(
        self,
        run_id: str,
        path: str | Path,
        *,
        transfer_id: str | None = None,
        on_progress: Progress = None,
        max_retries: int = 5,
        mode: str | None = None,
        concurrency: int = 4,
    ) -> Run:
        """Staged transfer: parts straight to object storage when the server offers presigned
        URLs (`concurrency` at a time), else chunks through the server. Resumes from what the
        server holds after a 409 or a dropped connection; pass `transfer_id` to resume a
        transfer begun by an earlier process, `mode="chunked"` to keep off object storage."""
        total = Path(path).stat().st_size
        if transfer_id:
            transfer = self.get_transfer(transfer_id)
        else:
            transfer = self.create_transfer(run_id, mode=mode)
        if transfer.mode == "presigned":
            parts = upload_presigned(
                self,
                transfer.raw,
                path,
                concurrency=concurrency,
                on_progress=on_progress,
                retries=max_retries,
            )
            return self.complete_transfer(transfer.id, parts)
        chunk_size = transfer.chunk_size_bytes or UPLOAD_CHUNK
        offset, failures = transfer.received_bytes, 0
        with open(path, "rb") as fh:
            while offset < total:
                fh.seek(offset)
                data = fh.read(chunk_size)
                try:
                    offset = self.upload_chunk(transfer, data, offset, total)
                    failures = 0
                except TransferConflict as err:
                    offset = err.received_bytes
                    failures += 1
                except (httpx.TransportError, ApiError) as err:
                    if isinstance(err, ApiError) and err.status < 500:
                        raise
                    failures += 1
                    if failures > max_retries:
                        raise
                    time.sleep(min(0.2 * 2**failures, 5))
                    offset = self.get_transfer(transfer.id).received_bytes
                if failures > max_retries:
                    raise StreamError(f"transfer {transfer.id} makes no progress")
                if on_progress:
                    on_progress(offset, total)
        return self.complete_transfer(transfer.id)
