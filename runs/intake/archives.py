"""Receipt and header-only validation of uploaded .tar.gz source archives.

GNU tar later unpacks the archive inside the sandbox. Python 3.11.7's tarfile extraction filters
have known bypasses (CVE-2025-4517, -4330, -4138, -4435, CVE-2024-12718), so nothing is ever
extracted here: headers are read in streaming mode and every member is checked against a virtual
tree built from the archive itself. tarfile's header parser is also more lenient than GNU tar's,
so anything the two could read differently is refused too: otherwise GNU tar could see members
that were never checked. Pure standard library; no Django.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import tarfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..errors import (
    ArchiveDigestMismatch,
    ArchiveError,
    ArchiveSizeMismatch,
    ArchiveTooLarge,
    ArchiveUnsafe,
)
from .tarheaders import TAR_OPTIONS, TarStream, check_trailer, tarinfo_class, unsupported

__all__ = [
    "ArchiveError",
    "ArchiveInfo",
    "ArchiveLimits",
    "ReceivedFile",
    "check_declared",
    "inspect_archive",
    "receive_stream",
]

_CONTROL = re.compile(r"[\x00-\x1f]")
_RULES = {
    "absolute_path": "has an absolute path",
    "parent_traversal": "contains a '..' path component",
    "path_too_long": "has a path longer than allowed",
    "name_too_long": "has a path component longer than allowed",
    "invalid_name": "has an empty name or a name with control characters",
    "link_escape": "is a link that points outside the archive",
    "through_symlink": "would be written through a symbolic link",
    "hardlink_target": "is a hard link to something other than an earlier regular file",
    "special_file": "is a device, FIFO or other special file",
    "too_many_members": "goes over the member limit",
    "expanded_too_large": "takes the expanded size over the limit",
    "symlink_loop": "is a symbolic link that does not resolve within the depth limit",
    "duplicate_conflict": "reuses the name of a different kind of entry (a symbolic link)",
}


def _unsafe(member: str, rule: str) -> ArchiveUnsafe:
    message = f"Archive member {member!r} {_RULES[rule]}; remove it from the archive and retry."
    return ArchiveUnsafe(message, {"member": member, "rule": rule})


@dataclass(frozen=True)
class ReceivedFile:
    size_bytes: int
    sha256: str


def receive_stream(
    chunks: Iterable[bytes],
    dest,
    *,
    max_bytes: int,
    on_progress: Callable[[int], None] | None = None,
) -> ReceivedFile:
    digest, total = hashlib.sha256(), 0
    for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:  # refuse before writing, and stop pulling from the client
            message = f"The archive is larger than the {max_bytes}-byte limit."
            raise ArchiveTooLarge(message, {"limitBytes": max_bytes})
        digest.update(chunk)
        dest.write(chunk)
        if on_progress is not None:
            on_progress(total)
    return ReceivedFile(size_bytes=total, sha256=digest.hexdigest())


def check_declared(received: ReceivedFile, *, size_bytes: int, sha256: str) -> None:
    if received.size_bytes != size_bytes:
        details = {"declared": size_bytes, "received": received.size_bytes}
        message = (
            f"The run declared {size_bytes} bytes but {received.size_bytes} arrived; "
            "upload the same file that was declared."
        )
        raise ArchiveSizeMismatch(message, details)
    if received.sha256 != sha256.lower():
        details = {"declared": sha256, "received": received.sha256}
        message = (
            "The sha256 of the bytes received differs from the declared one; the file changed "
            "or was corrupted on the way. Upload it again."
        )
        raise ArchiveDigestMismatch(message, details)


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 100_000
    max_expanded_bytes: int = 4 * 1024**3
    max_path_length: int = 1024
    max_name_length: int = 255
    max_symlink_depth: int = 40


@dataclass(frozen=True)
class ArchiveInfo:
    file_count: int
    dir_count: int
    symlink_count: int
    member_count: int
    expanded_bytes: int


class _Counting:
    """The raw upload, counting compressed bytes for progress reports."""

    def __init__(self, fileobj):
        self.fileobj, self.count = fileobj, 0

    def read(self, size: int = -1) -> bytes:
        data = self.fileobj.read(size)
        self.count += len(data)
        return data


def _encoded(text: str, member: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise _unsafe(member, "invalid_name") from None


def _split(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


class _Tree:
    """The member table (normalised path -> kind) and, for the second pass, a trie of the
    symlinks and their parent directories: walks track (trie node, steps off the trie) rather
    than prefix strings, so hostile deep paths cost linear time, not quadratic."""

    def __init__(self, limits: ArchiveLimits):
        self.limits, self.kinds, self.links, self.members = limits, {}, {}, []
        self.counts = {"file": 0, "dir": 0, "sym": 0}  # in ArchiveInfo's field order
        self.member_count = self.expanded = 0
        self.nodes: dict[tuple[int, str], int] = {}  # (parent node, component) -> node; 0 = root
        self.parent: list[int] = [0]
        self.targets: dict[int, str] = {}  # symlink node -> target
        self.memo: dict[int, tuple[int, int]] = {}
        self.active: set[int] = set()

    def add(self, m: tarfile.TarInfo) -> None:
        name, lim = m.name, self.limits
        self.member_count += 1
        if self.member_count > lim.max_members:
            raise _unsafe(name, "too_many_members")
        kinds = ((m.isdir(), "dir"), (m.issym(), "sym"), (m.islnk(), "hard"), (m.isreg(), "file"))
        kind = next((k for ok, k in kinds if ok), None)
        if kind is None:
            raise _unsafe(name, "special_file")
        if kind != "file" and m.size:  # tarfile skips no data here; GNU tar might
            raise unsupported("a link or directory header carries data")
        link = m.linkname if kind in ("sym", "hard") else None
        bad_link = link is not None and (not link or _CONTROL.search(link))
        if not name or _CONTROL.search(name) or bad_link:
            raise _unsafe(name, "invalid_name")
        if name.startswith("/"):
            raise _unsafe(name, "absolute_path")
        parts = _split(name)
        if ".." in parts:
            raise _unsafe(name, "parent_traversal")
        if not parts and kind == "dir":
            return  # the root entry "."
        if not parts or kind != "dir" and name.endswith("/"):
            raise _unsafe(name, "invalid_name")
        path = "/".join(parts)
        path = name if path == name else path  # share the string: the table may be large
        encoded = _encoded(path, name)
        if len(encoded) > lim.max_path_length:
            raise _unsafe(name, "path_too_long")
        if max(map(len, encoded.split(b"/"))) > lim.max_name_length:
            raise _unsafe(name, "name_too_long")
        if kind == "file":
            self.expanded += m.size
            if self.expanded > lim.max_expanded_bytes:
                raise _unsafe(name, "expanded_too_large")
        elif kind == "hard":
            target = _split(link)
            if link.startswith("/") or ".." in target:
                raise _unsafe(name, "link_escape")
            if self.kinds.get("/".join(target)) != "file":
                raise _unsafe(name, "hardlink_target")
            kind = "file"
        elif kind == "sym":
            if link.startswith("/"):
                raise _unsafe(name, "link_escape")
            if len(_encoded(link, name)) > lim.max_path_length:
                raise _unsafe(name, "path_too_long")
            self.links[path] = (link, name)
        previous = self.kinds.get(path)
        if previous not in (None, kind) and "sym" in (previous, kind):
            raise _unsafe(name, "duplicate_conflict")
        self.kinds[path] = kind
        self.counts[kind] += 1
        self.members.append((path, name, link if kind == "sym" else None))

    def check(self) -> None:
        # Second pass over the final table, so member order cannot hide a link.
        for path, (target, name) in self.links.items():
            node = 0
            for part in path.split("/"):
                key, node = (node, part), self.nodes.get((node, part))
                if node is None:
                    if len(self.parent) > self.limits.max_members:  # bounds the trie's memory
                        raise _unsafe(name, "too_many_members")
                    node = self.nodes[key] = len(self.parent)
                    self.parent.append(key[0])
            self.targets[node] = target
        for path, name, target in self.members if self.targets else ():
            node = 0
            for part in path.split("/")[:-1]:
                node = self.nodes.get((node, part))
                if node is None:
                    break
                if node in self.targets:
                    raise _unsafe(name, "through_symlink")
            if target is not None:
                self._walk(node, target, 1, name)

    def _walk(self, node: int, target: str, depth: int, member: str) -> tuple[int, int]:
        # `off` counts components below `node` that are off the trie, where no symlink can be.
        # A symlink member met on the way is replaced by its own resolution, as the kernel does.
        off = 0
        for part in target.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if off:
                    off -= 1
                elif node == 0:
                    raise _unsafe(member, "link_escape")
                else:
                    node = self.parent[node]
            elif off or (child := self.nodes.get((node, part))) is None:
                off += 1
            else:
                node = child
                if node in self.targets:
                    node, off = self._resolve(node, depth + 1, member)
        return node, off

    def _resolve(self, node: int, depth: int, member: str) -> tuple[int, int]:
        if node not in self.memo:
            if depth > self.limits.max_symlink_depth or node in self.active:
                raise _unsafe(member, "symlink_loop")
            self.active.add(node)
            self.memo[node] = self._walk(self.parent[node], self.targets[node], depth, member)
            self.active.discard(node)
        return self.memo[node]


def inspect_archive(
    fileobj,
    *,
    limits: ArchiveLimits,
    on_progress: Callable[[int, int], None] | None = None,
) -> ArchiveInfo:
    raw, tree, state = _Counting(fileobj), _Tree(limits), {}
    try:
        with gzip.GzipFile(fileobj=raw, mode="rb") as gz:  # refuses input not starting 1f 8b
            stream = TarStream(gz)
            tar = tarfile.open(fileobj=stream, tarinfo=tarinfo_class(state), **TAR_OPTIONS)
            while (member := tar.next()) is not None:
                tar.members.clear()  # tarfile keeps every TarInfo; our table is enough
                tree.add(member)
                if on_progress is not None and tree.member_count % 1000 == 0:
                    on_progress(tree.member_count, raw.count)
            check_trailer(stream, state.get("eof_end"))
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error, ValueError) as exc:
        raise unsupported(f"not a valid gzip-compressed tar archive ({exc})") from None
    tree.check()
    return ArchiveInfo(*tree.counts.values(), tree.member_count, tree.expanded)
