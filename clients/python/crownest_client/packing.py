"""Deterministic packing: the same tree gives the same bytes (and sha256) on every machine.

Rules (docs/sdk-python.md repeats them): names sorted, owners uid/gid 0 without names, mtime 0,
gzip header mtime 0 and no file name, modes normalised like git does (0755 when any execute bit
is set, else 0644; directories 0755). Symlinks are stored as symlinks. Skipped: directories
named in `exclude` (default: `.git`, at any depth) and nothing else. Sockets, FIFOs and devices
raise PackError rather than vanish silently."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO

DEFAULT_EXCLUDE = (".git",)


class PackError(Exception):
    pass


def _walk(root: Path, exclude: tuple[str, ...]):
    # os.walk with sorted names instead of rglob: rglob's order depends on the file system.
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in exclude)
        here = Path(dirpath)
        # a symlink to a directory shows up in dirnames but must be stored as a link
        for name in sorted(dirnames + filenames):
            yield here / name


def pack_directory(directory: str | Path, out: BinaryIO, *, exclude=DEFAULT_EXCLUDE) -> None:
    root = Path(directory)
    if not root.is_dir():
        raise PackError(f"{root} is not a directory")
    paths = sorted(_walk(root, tuple(exclude)), key=lambda p: p.relative_to(root).as_posix())
    with gzip.GzipFile(filename="", fileobj=out, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in paths:
                st = path.lstat()
                info = tarfile.TarInfo(path.relative_to(root).as_posix())
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                if stat.S_ISLNK(st.st_mode):
                    info.type, info.linkname, info.mode = tarfile.SYMTYPE, os.readlink(path), 0o777
                    tar.addfile(info)
                elif stat.S_ISDIR(st.st_mode):
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                elif stat.S_ISREG(st.st_mode):
                    info.size = st.st_size
                    info.mode = 0o755 if st.st_mode & 0o111 else 0o644
                    with open(path, "rb") as fh:
                        tar.addfile(info, fh)
                else:
                    raise PackError(f"{path} is not a regular file, directory or symlink")


def pack_bytes(directory: str | Path, *, exclude=DEFAULT_EXCLUDE) -> bytes:
    buf = io.BytesIO()
    pack_directory(directory, buf, exclude=exclude)
    return buf.getvalue()


def file_digest(path: str | Path) -> tuple[int, str]:
    """(size, sha256 hex) of a file, read in chunks so big archives never sit in memory."""
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()
