"""Archives as a client makes them."""

import gzip
import hashlib
import io
import tarfile


def make_targz(files: dict[str, bytes | str], *, extra=None) -> bytes:
    """A .tar.gz from {path: content}; `extra` is a list of TarInfo (links, dirs, devices…)."""
    buf = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if name.endswith(".sh") else 0o644
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info)
    return buf.getvalue()


def archive_meta(data: bytes, filename="repo.tgz") -> dict:
    return {
        "sizeBytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "filename": filename,
    }
