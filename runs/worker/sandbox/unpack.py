"""Splitting the collector's tar stream into one temp file per artifact, hashed as it is written."""

import hashlib
import os
import tarfile
import tempfile

from .base import Collected, CollectedFile


def unpack(tar_path, report, dest_dir) -> Collected:
    """Split the collector's tar into one temp file per artifact (the tar came from the sandbox:
    only regular-file members are read, names are only used as labels, never as host paths)."""
    out = Collected(errors=list(report.get("errors", [])))
    try:
        with tarfile.open(tar_path, mode="r|") as tar:
            for member in tar:
                if not member.isreg():
                    continue
                src = tar.extractfile(member)
                digest, size = hashlib.sha256(), 0
                with tempfile.NamedTemporaryFile(dir=dest_dir, delete=False) as fh:
                    while chunk := src.read(1024 * 1024):
                        fh.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                out.files.append(CollectedFile(member.name, fh.name, size, digest.hexdigest()))
    finally:
        os.unlink(tar_path)
    return out
