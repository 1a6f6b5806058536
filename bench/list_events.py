"""The time of one listEvents answer (GET .../events?limit=N) for a run with N stored events,
through the whole Django + DRF stack in process (no network): query, serialisation, rendering.
Each event is a stdout line of realistic length, with some non-ASCII text.

Self-contained: a temporary SQLite database unless DATABASE_URL is set (a PostgreSQL database of
its own is the figure that counts: the JSON column is parsed by the driver there).
Usage: .venv/bin/python bench/list_events.py [--events 1000] [--repeat 200]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = tempfile.mkdtemp(prefix="crownest-bench-")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{TMP}/bench.sqlite3")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crownest_web.settings")
os.environ.setdefault("CROWNEST_SECRET_KEY", "bench-only")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from runs.models import Run  # noqa: E402
from runs.stream import events  # noqa: E402


def run_with_events(owner, n: int) -> str:
    run = Run.objects.create(
        owner=owner,
        template="python-node",
        command="npm test",
        timeout_seconds=600,
        archive_size_bytes=1000,
        archive_sha256="a" * 64,
    )
    text = "ok {0} - résumé of test {0} passed in {1} ms\n"
    events.append(run.id, [("stdout", {"text": text.format(i, i % 97)}) for i in range(n)])
    return run.id


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = ["*"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
    call_command("migrate", verbosity=0)
    owner, _ = get_user_model().objects.get_or_create(username="bench")
    run_id = run_with_events(owner, args.events)
    client = Client()
    client.force_login(owner)
    url = f"/api/v1/workspace-runs/{run_id}/events?limit={args.events}"
    resp = client.get(url)
    assert resp.status_code == 200, resp.content[:500]
    assert len(resp.json()["events"]) == args.events
    times, cpu = [], []
    for _ in range(args.repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    times.sort()
    p90 = times[int(len(times) * 0.9) - 1]
    print(f"listEvents, {args.events} events, {len(resp.content)} bytes, {args.repeat} requests")
    print(
        f"  median {statistics.median(times):7.2f} ms   p90 {p90:7.2f} ms   min {times[0]:7.2f} ms"
    )
    # On a busy machine this process's own CPU time is the steadier figure.
    print(f"  own CPU: median {statistics.median(cpu):7.2f} ms   min {min(cpu):7.2f} ms")


if __name__ == "__main__":
    main()
