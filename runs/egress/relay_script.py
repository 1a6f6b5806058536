"""Runs INSIDE the sandbox (python3 -c), started by the bootstrap before the command: listens on
127.0.0.1:PORT (the socket is bound by the bootstrap and inherited as fd ARGV[1]) and relays
each connection to the run's Unix socket ARGV[2], the sandbox's only way to the host's egress
proxy. When the proxy is not there it answers 502 with a sentence, so a client fails at once
with a reason instead of waiting. Standard library only: it runs on the template's Python."""

import asyncio
import socket
import sys

CHUNK = 1 << 16
UNAVAILABLE = (
    b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"X-Crownest-Egress: unavailable\r\nContent-Length: 60\r\n\r\n"
    b"crownest egress: the egress proxy of this host is not there\n"
)


async def pipe(reader, writer):
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass


async def relay(path, reader, writer):
    try:
        up_reader, up_writer = await asyncio.open_unix_connection(path)
    except OSError:
        try:
            await asyncio.wait_for(reader.read(CHUNK), 5)  # the request, before the answer
            writer.write(UNAVAILABLE)
            await writer.drain()
        except (TimeoutError, OSError):
            pass
        writer.close()
        return
    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
    for w in (writer, up_writer):
        w.close()


async def main(fd, path):
    listener = socket.socket(fileno=fd)
    server = await asyncio.start_server(lambda r, w: relay(path, r, w), sock=listener)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
