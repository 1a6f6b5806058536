"""Docker's multiplexed attach stream (no TTY): 8-byte headers [stream, 0, 0, 0, size (u32 BE)]
then `size` bytes. Read here so the bootstrap's extraction mark can be found in it."""

import struct

MARK = b"\x00crownest:extracted\x00\n"  # bootstrap_script.MARK
STREAMS = {1: "stdout", 2: "stderr"}


def _read_exactly(sock, n: int) -> bytes:
    data = b""
    while len(data) < n:
        piece = sock.recv(n - len(data))
        if not piece:
            return data
        data += piece
    return data


def frames(sock):
    """("stdout"|"stderr", bytes) until the stream ends (or the socket breaks)."""
    try:
        while True:
            header = _read_exactly(sock, 8)
            if len(header) < 8:
                return
            stream, size = header[0], struct.unpack(">I", header[4:])[0]
            data = _read_exactly(sock, size)
            if stream in STREAMS and data:
                yield STREAMS[stream], data
            if len(data) < size:
                return
    except OSError:
        return  # the container was killed under us: the stream simply ends


class Extraction:
    """Splits each stream at the bootstrap's mark: what comes before is extraction's (tar's
    complaints), what comes after is the command's output. The mark is written on stdout and on
    stderr, because Docker does not keep the order between the two streams: the command's first
    stderr bytes can arrive before stdout's mark, so each stream is split at its own."""

    def __init__(self, sock):
        self.frames = frames(sock)
        self.before: list[tuple[str, bytes]] = []
        self.after: list[tuple[str, bytes]] = []
        self._pending = {"stdout": b"", "stderr": b""}
        self._marked: set[str] = set()

    def wait_for_mark(self) -> bool:
        for stream, data in self.frames:
            if stream in self._marked:
                self.after.append((stream, data))
            else:
                self._split(stream, self._pending[stream] + data)
            if len(self._marked) == 2:
                return True
        for stream, rest in self._pending.items():
            if rest and stream not in self._marked:
                self.before.append((stream, rest))
        return False

    def _split(self, stream: str, data: bytes) -> None:
        at = data.find(MARK)
        if at >= 0:
            self._marked.add(stream)
            if data[:at]:
                self.before.append((stream, data[:at]))
            if data[at + len(MARK) :]:
                self.after.append((stream, data[at + len(MARK) :]))
            return
        keep = len(MARK) - 1  # a tail that might be the start of a mark split across frames
        self._pending[stream] = data[-keep:]
        if data[:-keep]:
            self.before.append((stream, data[:-keep]))

    def complaint(self) -> str:
        text = b"".join(d for s, d in self.before if s == "stderr")
        return text.decode("utf-8", "replace").strip()[-500:]

    def output(self):
        yield from self.after
        yield from self.frames
