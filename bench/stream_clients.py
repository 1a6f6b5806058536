"""Light live-output viewers for bench/stream.py: SSE over a raw asyncio connection (HTTP/1.1,
chunked or not) and websockets (RFC 6455 by hand), cheap enough that a thousand of them on two
cores measure the server rather than themselves. A viewer checks that seqs arrive 1, 2, 3...
without gaps and keeps what the benchmark asks for: per-line latencies (lines that are the
container's clock) or the whole stdout text (a flood, compared at the end)."""

import asyncio
import base64
import hashlib
import json
import multiprocessing
import os
import time
from datetime import datetime
from urllib.parse import urlsplit

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Sink:
    """What one viewer saw."""

    def __init__(self, stamps: bool):
        self.stamps = stamps
        self.latencies: list[float] = []  # ms, line printed -> line here
        self.commit: list[float] = []  # ms, line printed -> its event's timestamp (the flush)
        self.texts: list[str] = []
        self.carry = ""
        self.last_seq = 0
        self.gaps = 0
        self.terminal = False
        self.last_stdout = 0.0
        self.error = ""
        self.cut = ""

    def on_event(self, raw) -> None:
        now = time.time()
        event = json.loads(raw)
        if event["seq"] != self.last_seq + 1:
            self.gaps += 1
        self.last_seq = event["seq"]
        kind = event["type"]
        if kind == "terminal":
            self.terminal = True
        if kind != "stdout":
            return
        text = event["data"]["text"]
        self.last_stdout = now
        if not self.stamps:
            self.texts.append(text)
            return
        *lines, self.carry = (self.carry + text).split("\n")
        flushed = datetime.fromisoformat(event["timestamp"]).timestamp()
        for line in lines:
            stamp = float(line)
            self.latencies.append((now - stamp) * 1000)
            self.commit.append((flushed - stamp) * 1000)

    def result(self) -> dict:
        return {
            "latencies": self.latencies,
            "commit": self.commit,
            "text": "".join(self.texts),
            "gaps": self.gaps,
            "last_seq": self.last_seq,
            "terminal": self.terminal,
            "last_stdout": self.last_stdout,
            "error": self.error,
            "cut": self.cut,
        }


async def _body(reader, chunked: bool):
    if not chunked:
        while data := await reader.read(65536):
            yield data
        return
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        if size == 0:
            return
        data = await reader.readexactly(size + 2)
        yield data[:-2]


async def sse_viewer(base: str, run_id: str, key: str, sink: Sink, ready: asyncio.Event):
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(
            f"GET /api/v1/workspace-runs/{run_id}/events/stream?afterSeq=0 HTTP/1.1\r\n"
            f"Host: {url.netloc}\r\nAuthorization: Bearer {key}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
        ready.set()
        buf = b""
        async for data in _body(reader, b"transfer-encoding: chunked" in head.lower()):
            *blocks, buf = (buf + data).split(b"\n\n")
            for block in blocks:
                at = block.find(b"\ndata: ")
                if at >= 0:
                    sink.on_event(block[at + 7 :])
                elif block.startswith(b": slow_viewer"):
                    sink.cut = block.decode()
            if sink.terminal:
                return
    finally:
        writer.close()


async def ws_viewer(base: str, run_id: str, key: str, sink: Sink, ready: asyncio.Event):
    """RFC 6455 by hand (text frames, close, ping): a thousand of these must not cost more
    than the server they measure. The handshake is checked like any client would."""
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    nonce = base64.b64encode(os.urandom(16)).decode()
    try:
        writer.write(
            f"GET /ws/workspace-runs/{run_id}/events?afterSeq=0 HTTP/1.1\r\n"
            f"Host: {url.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {key}\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        accept = base64.b64encode(hashlib.sha1((nonce + WS_GUID).encode()).digest())
        if not head.startswith(b"HTTP/1.1 101") or accept not in head:
            raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
        ready.set()
        message = b""
        while True:
            b0, b1 = await reader.readexactly(2)
            size = b1 & 0x7F
            if size == 126:
                size = int.from_bytes(await reader.readexactly(2), "big")
            elif size == 127:
                size = int.from_bytes(await reader.readexactly(8), "big")
            payload = await reader.readexactly(size)
            opcode = b0 & 0x0F
            if opcode == 8:  # close: code and reason
                code = int.from_bytes(payload[:2], "big") if payload else 1005
                if code != 1000:
                    sink.cut = f"{code} {payload[2:].decode()}"
                return
            if opcode == 9:  # ping: a masked pong with the same payload (a zero mask)
                writer.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
                continue
            message += payload
            if b0 & 0x80:  # the last fragment
                sink.on_event(message)
                message = b""
    finally:
        writer.close()


VIEWERS = {"sse": sse_viewer, "ws": ws_viewer}
CONNECTING = 20


class Ready(asyncio.Event):
    """Set once the viewer is connected; frees its place among those connecting."""

    def __init__(self, connecting: asyncio.Semaphore):
        super().__init__()
        self.connecting = connecting

    def set(self):
        if not self.is_set():
            self.connecting.release()
        super().set()


async def _watch(base, run_id, key, kinds, stamps, ready_cb, timeout):
    sinks = [Sink(stamps) for _ in kinds]
    # People open a page over seconds, not in one millisecond: at most CONNECTING handshakes
    # at a time per client process.
    connecting = asyncio.Semaphore(CONNECTING)
    readies = [Ready(connecting) for _ in kinds]

    async def one(kind, sink, ready):
        try:
            await connecting.acquire()
            await VIEWERS[kind](base, run_id, key, sink, ready)
        except Exception as err:  # counted as an error, never hidden
            sink.error = f"{type(err).__name__}: {err}"
            ready.set()

    tasks = [
        asyncio.create_task(one(k, s, r)) for k, s, r in zip(kinds, sinks, readies, strict=True)
    ]
    await asyncio.gather(*(r.wait() for r in readies))
    ready_cb()
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task, sink in zip(tasks, sinks, strict=True):
        if task in pending:
            task.cancel()
            sink.error = sink.error or "timed out"
    return [{**s.result(), "kind": kind} for s, kind in zip(sinks, kinds, strict=True)]


def watch(base, run_id, key, kinds, *, stamps, on_ready, timeout=300) -> list[dict]:
    """Viewers of `kinds` ("sse"/"ws") in this process; `on_ready()` once all are connected."""
    return asyncio.run(_watch(base, run_id, key, kinds, stamps, on_ready, timeout))


def _child(conn, base, run_id, key, kinds, stamps, timeout):
    cpu = time.process_time()
    results = watch(
        base,
        run_id,
        key,
        kinds,
        stamps=stamps,
        on_ready=lambda: conn.send("ready"),
        timeout=timeout,
    )
    for r in results:  # this client process's own CPU, shared out
        r["client_cpu"] = (time.process_time() - cpu) / len(results)
    conn.send(results)
    conn.close()


def watch_in_processes(base, run_id, key, kinds, *, stamps, on_ready, processes=2, timeout=300):
    """The same, spread over `processes` client processes (a thousand viewers need more than
    one core's worth of parsing); `on_ready()` once every process has all of its viewers up."""
    ctx = multiprocessing.get_context("fork")
    parts = [kinds[i::processes] for i in range(processes)]
    pipes, procs = [], []
    for part in parts:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_child, args=(child, base, run_id, key, part, stamps, timeout))
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    for pipe in pipes:
        assert pipe.recv() == "ready"
    on_ready()
    results = []
    for pipe, proc in zip(pipes, procs, strict=True):
        results += pipe.recv()
        proc.join()
    return results
