"""Serving the metrics: GET /metrics on the web process, and a small HTTP server of its own in
each worker host's main process. Both answer only a caller with the metrics token or from an
allowed address (settings CROWNEST_METRICS_TOKEN / _ALLOW); anyone else gets a plain 404, as for
a page that does not exist."""

import hmac
import ipaddress
import logging
import os
from functools import cache

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotFound
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from .collectors import DatabaseCollector

log = logging.getLogger(__name__)


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


class _ThisProcess:
    """The default registry (this process's metrics) inside a registry of one scrape."""

    def collect(self):
        yield from REGISTRY.collect()


def scrape(*extra) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)


@cache
def _networks(allow: tuple[str, ...]) -> list:
    return [ipaddress.ip_network(entry, strict=False) for entry in allow]


def allowed(address: str | None, authorization: str | None) -> bool:
    token = settings.CROWNEST_METRICS_TOKEN
    if token and authorization:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
            return True
    if address and settings.CROWNEST_METRICS_ALLOW:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in _networks(tuple(settings.CROWNEST_METRICS_ALLOW)))
    return False


def metrics_view(request):
    """GET /metrics of the web process: its own counters and the database's gauges."""
    if request.method != "GET" or not allowed(
        request.META.get("REMOTE_ADDR"), request.headers.get("Authorization")
    ):
        return HttpResponseNotFound(b"Not Found", content_type="text/plain")
    return HttpResponse(scrape(DatabaseCollector()), content_type=CONTENT_TYPE_LATEST)
