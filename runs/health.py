from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def check_database():
    with connection.cursor() as cur:
        cur.execute("SELECT 1")


def check_redis():
    import redis

    redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2).ping()


def check_docker():
    """The web process never talks to Docker: a worker that inspected the template image recently
    (workers record it at start and on every run) is the sign that runs can be executed."""
    from celery import current_app

    from .models import Template

    if not Template.objects.filter(name__in=list(settings.CROWNEST_TEMPLATES)).exists():
        raise RuntimeError("no worker has registered a template image yet")
    replies = current_app.control.ping(timeout=1.0)
    if not replies:
        raise RuntimeError("no worker answers")


CHECKS = {"database": check_database, "redis": check_redis, "docker": check_docker}


def healthz(request):
    results, healthy = {}, True
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"error: {exc}"[:200]
            healthy = False
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": results},
        status=200 if healthy else 503,
    )
