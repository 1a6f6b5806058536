"""A worker host's exporter: its processes' counters (multiprocess files), its warm pool and the
disk its runs' workspaces live on. Loaded by the worker only (ops/worker.py)."""

import logging
import socket
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from prometheus_client import CONTENT_TYPE_LATEST

from runs.sandbox_templates.selectors import warm_images
from runs.worker.sandbox import get_sandbox
from runs.worker.sandbox.pool import OWNER, OWNER_LABEL, pool_list

from .collectors import disk_rows, gauge
from .exposition import allowed, scrape

log = logging.getLogger(__name__)


class WorkerHostCollector:
    """This worker host's warm pool (ready sandboxes, and how many it keeps) and the disk its runs'
    workspaces live on."""

    def collect(self):
        yield from disk_rows({"sandbox_disks": Path(settings.CROWNEST_SANDBOX_DISK_DIR)})
        target = settings.CROWNEST_SANDBOX_POOL_SIZE * len(warm_images())
        yield gauge("crownest_pool_target", "Sandboxes the pool keeps ready.", (), [(target,)])
        ready = self._ready()
        if ready is not None:
            yield gauge("crownest_pool_size", "Pooled sandboxes ready now.", (), [(ready,)])

    def _ready(self) -> int | None:
        if settings.CROWNEST_SANDBOX_POOL_SIZE <= 0:
            return 0
        try:
            found = pool_list(get_sandbox())
        except Exception:  # the engine is away: no figure rather than a wrong one
            log.warning("metrics: could not list the pool", exc_info=True)
            return None
        return sum(1 for c in found if c.labels.get(OWNER_LABEL) == OWNER and c.status == "running")


def worker_app(environ, start_response):
    """The worker host's exporter (WSGI): its processes' counters, its pool and its disks."""
    ok = environ.get("PATH_INFO") == "/metrics" and environ.get("REQUEST_METHOD") == "GET"
    if not ok or not allowed(environ.get("REMOTE_ADDR"), environ.get("HTTP_AUTHORIZATION")):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not Found"]
    body = scrape(WorkerHostCollector())
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
    return [body]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):  # a scrape every few seconds is not news
        pass


def worker_exporter_start(port: int, address: str):
    """Serves worker_app from a thread; returns the server (shut down with the worker)."""
    server_class = _Server
    if ":" in address:  # an IPv6 address
        server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
    server = make_server(address, port, worker_app, server_class, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics served on http://%s:%s/metrics", address, port)
    return server
