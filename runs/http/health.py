"""GET /healthz: can the stack take runs? The web process never talks to Docker itself (the
socket is root on the host): the "docker" check asks the workers, over the broker, to ping their
engines, and is ok when at least one answers that its engine does."""

import kombu.exceptions
import redis
from celery import current_app
from django.conf import settings
from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from ..egress.health import egress_problem
from ..selectors import hosts_alive, hosts_report
from .docs import HealthOut

DOCKER_PING_TIMEOUT = 1.5


def check_database():
    with connection.cursor() as cur:
        cur.execute("SELECT 1")


def check_redis():
    redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2).ping()


def broadcast_ping():
    try:
        return current_app.control.broadcast("docker_ping", reply=True, timeout=DOCKER_PING_TIMEOUT)
    except (OSError, redis.exceptions.ConnectionError, kombu.exceptions.OperationalError):
        # A pooled broker connection that Redis closed (a restart) fails once; a new one works.
        return current_app.control.broadcast("docker_ping", reply=True, timeout=DOCKER_PING_TIMEOUT)


def check_docker():
    replies = broadcast_ping()
    answers = [answer for reply in replies or [] for answer in reply.values()]
    if not answers:
        raise RuntimeError("no worker answers, so no Docker engine can take runs")
    if not any(isinstance(a, dict) and a.get("ok") for a in answers):
        errors = "; ".join(str(a.get("error", a)) for a in answers if isinstance(a, dict))
        raise RuntimeError(f"no worker reaches its Docker engine ({errors})")


def check_egress():
    problem = egress_problem(list(hosts_alive().values_list("name", "egress")))
    if problem:
        raise RuntimeError(problem)


CHECKS = {"database": check_database, "redis": check_redis, "docker": check_docker}


def checks() -> dict:
    """The checks of this installation: the egress proxies only where egress is on."""
    return {**CHECKS, "egress": check_egress} if settings.CROWNEST_EGRESS_ENABLED else CHECKS


class Healthz(APIView):
    # No credentials, no throttle: load balancers and monitors ask without either.
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(
        operation_id="getHealth",
        auth=[],
        responses={200: HealthOut, 503: HealthOut},
        description="200 when the stack can take runs; 503 names the failing check.",
    )
    def get(self, request):
        results, healthy = {}, True
        for name, check in checks().items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"error: {exc}"[:200]
                healthy = False
        try:
            hosts = hosts_report()
        except Exception:  # the database check above already says why
            hosts = []
        return Response(
            {"status": "ok" if healthy else "unavailable", "checks": results, "hosts": hosts},
            status=200 if healthy else 503,
        )


healthz = Healthz.as_view()
