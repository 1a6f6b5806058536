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
    """Splits the stream at the bootstrap's mark: what comes before is extraction's (tar's
    complaints), what comes after is the command's output."""

    def __init__(self, sock):
        self.frames = frames(sock)
        self.before: list[tuple[str, bytes]] = []
        self.after: list[tuple[str, bytes]] = []
        self.marked = False
        self._pending = b""

    def wait_for_mark(self) -> bool:
        for stream, data in self.frames:
            if stream == "stdout":
                data = self._pending + data
                at = data.find(MARK)
                if at >= 0:
                    self.marked = True
                    if data[:at]:
                        self.before.append((stream, data[:at]))
                    if data[at + len(MARK) :]:
                        self.after.append((stream, data[at + len(MARK) :]))
                    return True
                # keep a tail that might be the start of a mark split across frames
                keep = len(MARK) - 1
                self._pending = data[-keep:]
                if data[:-keep]:
                    self.before.append((stream, data[:-keep]))
            else:
                self.before.append((stream, data))
        if self._pending:
            self.before.append(("stdout", self._pending))
        return False

    def complaint(self) -> str:
        text = b"".join(d for s, d in self.before if s == "stderr")
        return text.decode("utf-8", "replace").strip()[-500:]

    def output(self):
        yield from self.after
        yield from self.frames
