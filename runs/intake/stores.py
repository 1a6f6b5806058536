"""Where the chunks of a staged transfer live until it completes, chosen by the default storage:
a partial file on the local disk (renamed into place at the end), or an S3 multipart upload
(each chunk one part) whose object becomes the archive. Both hand back a stream for the one
read pass that hashes and checks the archive."""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.core.files import File

from ..blobs import object_key, s3_storage, server_client, storage

S3_MIN_PART = 5 * 1024 * 1024
READ_SIZE = 1 << 20


class StoreError(Exception):
    """The storage backend refused an operation (a typed error, as for the sandbox)."""


def archive_name(run_id: str) -> str:
    return f"archives/{run_id}/{uuid.uuid4().hex}.tar.gz"


class LocalStore:
    """Chunks appended to MEDIA_ROOT/tmp/transfers/<id>.part with positioned writes."""

    min_part = 1

    def begin(self, transfer) -> None:
        folder = Path(settings.MEDIA_ROOT) / "tmp" / "transfers"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{transfer.id}.part"
        path.touch()
        transfer.temp_name = str(path.relative_to(settings.MEDIA_ROOT))

    def path(self, transfer) -> Path:
        return Path(settings.MEDIA_ROOT) / transfer.temp_name

    def write(self, transfer, n: int, start: int, pieces: Iterable[bytes]) -> dict:
        # Unbuffered: the pieces are large, a buffer would only add a copy of every byte.
        with open(self.path(transfer), "r+b", buffering=0) as fh:
            fh.seek(start)
            try:
                for piece in pieces:
                    view = memoryview(piece)
                    while view:  # a raw write may be partial
                        view = view[fh.write(view) :]
            except BaseException:
                fh.truncate(start)  # a refused body must not leave bytes past receivedBytes
                raise
        return {}

    def same(self, transfer, part: dict, pieces: Iterable[bytes]) -> bool:
        """Whether a resent chunk equals the stored bytes: a read-back, only on a resend, so
        the common path pays for no per-chunk hash."""
        equal = True
        with open(self.path(transfer), "rb") as fh:
            fh.seek(part["start"])
            for piece in pieces:  # always drained, so a wrong length still answers 400
                equal = equal and fh.read(len(piece)) == piece
        return equal

    def assemble(self, transfer) -> None:
        pass

    def open_stream(self, transfer):
        return open(self.path(transfer), "rb")

    def finish(self, transfer) -> str:
        """Make the received file the run's archive; the name is the storage name."""
        store, name = storage(), archive_name(transfer.run_id)
        target = getattr(store, "path", None)
        try:
            dest = Path(target(name)) if target else None
        except NotImplementedError:
            dest = None
        if dest is not None:  # same filesystem as MEDIA_ROOT/tmp: a rename, no copy
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.path(transfer), dest)
            return name
        with open(self.path(transfer), "rb") as fh:  # another backend: one copy is unavoidable
            stored = store.save(name, File(fh, name=os.path.basename(name)))
        os.unlink(self.path(transfer))
        return stored

    def discard(self, transfer) -> None:
        if transfer.temp_name:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path(transfer))


class S3Store:
    """A multipart upload straight to the archive's final key: nothing is copied at the end."""

    min_part = S3_MIN_PART

    def __init__(self, storage):
        self.storage = storage

    def _client(self):
        return server_client(self.storage)

    def _key(self, name: str) -> str:
        return object_key(self.storage, name)

    def _call(self, method: str, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client(), method)(Bucket=self.storage.bucket_name, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"object storage refused {method}: {exc}") from exc

    def begin(self, transfer) -> None:
        name = archive_name(transfer.run_id)
        answer = self._call(
            "create_multipart_upload", Key=self._key(name), ContentType="application/gzip"
        )
        transfer.temp_name, transfer.s3_upload_id = name, answer["UploadId"]

    def write(self, transfer, n: int, start: int, pieces: Iterable[bytes]) -> dict:
        # upload_part needs the part's length up front; one chunk is the bounded buffer.
        body = bytearray()
        for piece in pieces:
            body += piece
        md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
        answer = self._call(
            "upload_part",
            Key=self._key(transfer.temp_name),
            UploadId=transfer.s3_upload_id,
            PartNumber=n,
            Body=bytes(body),
        )
        return {"md5": md5, "etag": answer["ETag"]}

    def same(self, transfer, part: dict, pieces: Iterable[bytes]) -> bool:
        md5 = hashlib.md5(usedforsecurity=False)
        for piece in pieces:
            md5.update(piece)
        return md5.hexdigest() == part["md5"]

    def assemble(self, transfer) -> None:
        parts = [{"PartNumber": p["n"], "ETag": p["etag"]} for p in transfer.parts]
        self._call(
            "complete_multipart_upload",
            Key=self._key(transfer.temp_name),
            UploadId=transfer.s3_upload_id,
            MultipartUpload={"Parts": parts},
        )
        transfer.s3_upload_id = ""

    def open_stream(self, transfer):
        # GetObject's streaming body, read in pieces; S3File would buffer the whole object.
        answer = self._call("get_object", Key=self._key(transfer.temp_name))
        return contextlib.closing(answer["Body"])

    def finish(self, transfer) -> str:
        return transfer.temp_name

    def discard(self, transfer) -> None:
        if transfer.s3_upload_id:
            with contextlib.suppress(StoreError):
                self._call(
                    "abort_multipart_upload",
                    Key=self._key(transfer.temp_name),
                    UploadId=transfer.s3_upload_id,
                )
        if transfer.temp_name:
            self.storage.delete(transfer.temp_name)


def store_for_default():
    store = s3_storage()
    return LocalStore() if store is None else S3Store(store)
