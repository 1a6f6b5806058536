"""The tar header layer of the archive checks: a gzip reader that behaves like `gzip -d`, and a
TarInfo subclass that refuses every header that tarfile and GNU tar could read differently
(numeric fields, pax records, extended headers, the end-of-archive trailer)."""

from __future__ import annotations

import gzip
import re
import tarfile

from ..errors import UnsupportedArchive

_BLOCK = tarfile.BLOCKSIZE
_BUFSIZE = 1 << 16
TAR_OPTIONS = {"mode": "r|", "encoding": "utf-8", "errors": "surrogateescape", "bufsize": _BUFSIZE}
_MAX_HEADER_BYTES = 1 << 16  # one member's extended headers; real paths are ~4 KiB at most
_MAX_TRAILER = 1 << 20  # NUL padding accepted after the end-of-archive block
_OCTAL = re.compile(rb" *[0-7]+ *")
_PAX_RECORD = re.compile(rb"([1-9][0-9]{0,8}) ([^=\n\x00]+)=")
_DIGIT_RUN = re.compile(rb"[0-9]{33}")
_EXTENDED = {b"L": b"L", b"K": b"K", b"x": b"x", b"X": b"x", b"g": b"g"}
_NUMBER_FIELDS = ((100, 108), (108, 116), (116, 124), (136, 148), (329, 337), (337, 345))
_GLOBAL_KEYS = {b"comment", b"charset", b"mtime", b"atime", b"ctime", b"uid", b"gid"}


def unsupported(why: str) -> UnsupportedArchive:
    return UnsupportedArchive(
        f"Not a usable .tar.gz archive: {why}. Pack it with `tar -czf` (GNU or bsdtar).",
        {"reason": why},
    )


class TarStream:
    """Our own gzip layer instead of tarfile's 'r|gz': like gzip -d (which GNU tar runs) it
    continues into concatenated gzip members, and it verifies every CRC, so tarfile cannot stop
    early at a member boundary while GNU tar reads on into unchecked data."""

    def __init__(self, gz: gzip.GzipFile):
        self.gz, self.total, self.recent = gz, 0, (b"", b"")

    def read(self, size: int) -> bytes:
        data = self.gz.read(size)
        if data:
            self.total += len(data)
            self.recent = (self.recent[1], data)  # tarfile's read-ahead is inside these two
        return data


def _number(field: bytes, *, signed: bool = True) -> int:
    # tarfile's int(..., 8) accepts '+7', '1_0', blanks or a leading NUL that GNU tar reads
    # differently or rejects; a size read two ways would desynchronise the two parsers.
    if field[0] == 0x80 or (signed and field[0] == 0xFF):
        return int.from_bytes(field[1:], "big")
    digits = field.split(b"\0", 1)[0]
    if _OCTAL.fullmatch(digits):
        return int(digits, 8)
    if any(field):
        raise unsupported("malformed numeric field in a tar header")
    return 0


def _check_pax(data: bytes, is_global: bool) -> None:
    # tarfile skips malformed records GNU tar stops at, and its hdrcharset search is quadratic
    # on long digit runs (CVE-2024-6232), so records are checked before tarfile sees them.
    if _DIGIT_RUN.search(data):
        raise unsupported("pax header with an overlong number")
    keys, pos = set(), 0
    while pos < len(data):
        match = _PAX_RECORD.match(data, pos)
        end = pos + int(match.group(1)) if match else 0
        if not match or end > len(data) or end <= match.end() or data[end - 1] != 0x0A:
            raise unsupported("malformed pax header record")
        key, value = match.group(2), data[match.end() : end - 1]
        sparse = key.startswith(b"GNU.sparse.")
        if (is_global and key not in _GLOBAL_KEYS) or (key.startswith(b"GNU.") and not sparse):
            raise unsupported(f"pax keyword {key.decode(errors='replace')!r} is not accepted")
        numeric = key in (b"size", b"uid", b"gid") or sparse and key != b"GNU.sparse.name"
        if numeric and not re.fullmatch(rb"[0-9]+(,[0-9]+)*", value):
            raise unsupported("malformed number in a pax header")
        keys.add(key)
        pos = end
    # Both are applied by tarfile in record order but by GNU tar with a fixed precedence.
    sizes = {b"GNU.sparse.size", b"GNU.sparse.realsize"}
    if {b"path", b"GNU.sparse.name"} <= keys or b"size" in keys and keys & sizes:
        raise unsupported("conflicting pax keywords")


class _HeaderGuard:
    """Stands in for tarfile's stream while one member's header chain is parsed: bounds what
    tarfile buffers and validates each header block and extended header before tarfile does."""

    def __init__(self, stream):
        self.stream, self.buf, self.pos, self.done = stream, bytearray(), 0, False
        self.kinds: set[bytes] = set()

    def tell(self) -> int:
        return self.stream.tell()

    def read(self, size: int) -> bytes:
        if len(self.buf) + size > _MAX_HEADER_BYTES:
            raise unsupported("extended tar headers are too large")
        data = self.stream.read(size)
        self.buf += data
        while not self.done and len(self.buf) >= self.pos + _BLOCK:
            block = bytes(self.buf[self.pos : self.pos + _BLOCK])
            if not any(block):  # end-of-archive block: tarfile reports it
                self.done = True
                break
            for start, stop in _NUMBER_FIELDS:
                _number(block[start:stop])
            _number(block[148:156], signed=False)
            size = _number(block[124:136], signed=False)
            kind = _EXTENDED.get(block[156:157])
            if kind is None:
                self.done = True
                self._check_final(block)
                break
            if kind in self.kinds:  # tarfile and GNU tar disagree on which repeat wins
                raise unsupported("repeated extended header")
            end = self.pos + _BLOCK + size
            if len(self.buf) < end:
                break  # tarfile reads the payload next
            if kind not in (b"L", b"K"):
                _check_pax(bytes(self.buf[self.pos + _BLOCK : end]), kind == b"g")
            self.kinds.add(kind)
            self.pos += _BLOCK + -(-size // _BLOCK) * _BLOCK
        return data

    def _check_final(self, block: bytes) -> None:
        # GNU tar gives a pax path precedence over a GNU long name, tarfile the reverse.
        if self.kinds & {b"L", b"K"} and b"x" in self.kinds:
            raise unsupported("GNU long names mixed with pax headers")
        # tarfile prepends the ustar prefix field whatever the magic; GNU tar only for ustar.
        if block[257:263] != b"ustar\0" and block[345] and block[156:157] != b"S":
            raise unsupported("prefix field in a non-ustar header")


def tarinfo_class(state: dict) -> type[tarfile.TarInfo]:
    class _GuardedInfo(tarfile.TarInfo):
        @classmethod
        def fromtarfile(cls, tf):
            if isinstance(tf.fileobj, _HeaderGuard):  # nested call for an extended header
                return super().fromtarfile(tf)
            guard = tf.fileobj = _HeaderGuard(tf.fileobj)
            try:
                return super().fromtarfile(tf)
            except tarfile.EOFHeaderError:
                state["eof_end"] = guard.tell()
                raise
            except tarfile.HeaderError as exc:  # tarfile silently stops on these mid-archive
                raise unsupported(f"invalid or truncated tar header ({exc})") from None
            finally:
                tf.fileobj = guard.stream

    return _GuardedInfo


def check_trailer(stream: TarStream, eof_end: int | None) -> None:
    # After the end-of-archive block only NUL padding may follow: GNU tar -i would read on.
    recent = stream.recent[0] + stream.recent[1]
    pending = -1 if eof_end is None else stream.total - eof_end  # tarfile's read-ahead
    if not 0 <= pending <= len(recent):
        raise unsupported("missing end-of-archive marker")
    chunk, seen = recent[len(recent) - pending :], pending
    while chunk:
        if chunk.count(0) != len(chunk) or seen > _MAX_TRAILER:
            raise unsupported("unexpected data after the end of the tar archive")
        chunk = stream.read(_BUFSIZE)  # reading to the end also checks the gzip CRCs
        seen += len(chunk)
