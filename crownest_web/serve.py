"""The web server: uvicorn (HTTP/1.1 by httptools, websockets) serving crownest_web.asgi.

    python -m crownest_web.serve -b 127.0.0.1 -p 8000 [--proxy-headers]

uvicorn hands a request's body to the application as it arrives, so the guard in
crownest_web/ingress.py refuses a request before its body is read; daphne reads every body whole
first (docs/architecture.md, "Request bodies"). `make up`, the systemd unit and the test suite's
live stack all start the server this way."""

import argparse
import json
import os

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crownest_web.settings")

UNPARSABLE = json.dumps(
    {
        "error": {
            "code": "invalid_request",
            "message": "The request is not valid HTTP/1.1 (for instance a body longer than its "
            "Content-Length, read as a next request); the connection is closed.",
            "details": {},
        }
    }
).encode()


class LingeringClose:
    """The transport as a request's cycle sees it: closing while the client is still sending a
    body (a refusal) first ends our side and reads on for a moment. A socket closed with unread
    data sends a reset, and a reset makes the client's system drop the answer it has not yet
    read; so the answer goes out, then a FIN, and what still arrives is discarded unparsed."""

    def __init__(self, protocol: "HttpProtocol"):
        self._protocol = protocol
        self._transport = protocol.transport

    def __getattr__(self, name):
        return getattr(self._transport, name)

    def close(self) -> None:
        cycle = self._protocol.cycle
        if cycle is not None and cycle.more_body and self._transport.can_write_eof():
            self._protocol.linger()
        else:
            self._transport.close()


class HttpProtocol(HttpToolsProtocol):
    """httptools' protocol, answering what it cannot parse with the API's error envelope, and
    closing a connection whose request body was refused with a lingering close."""

    lingering = False

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.scope is self.scope:
            self.cycle.transport = LingeringClose(self)

    def linger(self) -> None:
        from django.conf import settings

        self.lingering = True
        self.transport.write_eof()  # after the answer, which is already in the write buffer
        self.flow.resume_reading()
        self.loop.call_later(settings.CROWNEST_BODY_LINGER_SECONDS, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if not self.lingering:
            super().data_received(data)

    def eof_received(self) -> None:
        if self.lingering:  # the client has stopped sending: nothing is left to discard
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        head = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(UNPARSABLE),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + UNPARSABLE)
        self.transport.close()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-b", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=8000)
    parser.add_argument(
        "--proxy-headers",
        action="store_true",
        help="trust X-Forwarded-For/-Proto from FORWARDED_ALLOW_IPS (default 127.0.0.1)",
    )
    args = parser.parse_args(argv)
    from django.conf import settings

    uvicorn.run(
        "crownest_web.asgi:application",
        host=args.host,
        port=args.port,
        http=HttpProtocol,
        ws="websockets-sansio",
        lifespan="off",
        proxy_headers=args.proxy_headers,
        server_header=False,
        timeout_keep_alive=settings.CROWNEST_WEB_KEEPALIVE_SECONDS,
        timeout_graceful_shutdown=settings.CROWNEST_WEB_SHUTDOWN_SECONDS,
        log_level=os.environ.get("CROWNEST_LOG_LEVEL", "INFO").lower(),
    )


if __name__ == "__main__":
    main()
