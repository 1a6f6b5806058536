"""A real Prometheus (Debian's, on loopback, with a generated configuration and the shipped alert
rules) scrapes a real stack, daphne and a worker host, while runs succeed, fail, are canceled and
hit the disk limit; then PromQL through Prometheus's HTTP API must say what happened. The worker
runs Celery's prefork pool with PROMETHEUS_MULTIPROC_DIR, daphne in single-process mode; both
log JSON lines that name the run."""

import json
import math
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from runs.tokens import token_issue

from .helpers import (
    ROOT,
    archive_meta,
    daphne_process,
    free_port,
    make_targz,
    port_open,
    started,
    wait_for_idle_worker,
    wait_until,
    worker_process,
)
from .helpers.monitoring import dashboard_queries

pytestmark = pytest.mark.docker

QUEUE = "crownest-test-metrics"
HOST = "metrics-host"
TOKEN = "metrics-test-token"
DATA = make_targz({"a.txt": "a"})
COMMANDS = {
    "succeeded": "true",
    "failed": "exit 3",
    "disk_limit": "dd if=/dev/zero of=/workspace/big bs=1M count=400 2>/dev/null; exit 3",
    "canceled": "sleep 60",
}


def prometheus_config(folder: Path, web: str, worker: str) -> Path:
    rules = folder / "crownest.rules.yml"
    shutil.copy(ROOT / "deploy" / "prometheus" / "crownest.rules.yml", rules)
    (folder / "token").write_text(TOKEN)
    auth = {"credentials_file": str(folder / "token")}
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": "crownest-web",
                "authorization": auth,
                "static_configs": [{"targets": [web]}],
            },
            {
                "job_name": "crownest-worker",
                "authorization": auth,
                "static_configs": [{"targets": [worker]}],
            },
        ],
    }
    path = folder / "prometheus.yml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def prometheus_process(folder: Path, config: Path, port: int):
    argv = ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}"]
    argv += [f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "prometheus.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=folder, stdout=out, stderr=subprocess.STDOUT)
    ready = f"http://127.0.0.1:{port}/-/ready"
    started(
        proc, "prometheus", log, lambda: port_open(port) and httpx.get(ready).status_code == 200
    )
    return proc


@pytest.fixture
def monitored(transactional_db, tmp_path):
    """daphne + a worker host (2 slots, pool of 1) on a queue of their own, and Prometheus."""
    metrics_dir = tmp_path / "multiproc"
    metrics_dir.mkdir()
    worker_port, prom_port = free_port(), free_port()
    common = {
        "CROWNEST_QUEUE": QUEUE,
        "CROWNEST_INSTANCE": f"{settings.CROWNEST_INSTANCE}-metrics",
        "CROWNEST_METRICS_TOKEN": TOKEN,
        "CROWNEST_LOG_FORMAT": "json",
    }
    worker_env = {
        **common,
        "CROWNEST_WORKER_HOST": HOST,
        "CROWNEST_METRICS_PORT": str(worker_port),
        "CROWNEST_SANDBOX_POOL_SIZE": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    with (
        worker_process(QUEUE, tmp_path / "worker", worker_env, concurrency=2, name="metrics") as (
            _w,
            worker_log,
        ),
        daphne_process(tmp_path / "web", common) as (_d, web_log, base_url),
    ):
        wait_until(lambda: port_open(worker_port), timeout=30, message="no worker exporter")
        web = base_url.removeprefix("http://")
        config = prometheus_config(tmp_path, web, f"127.0.0.1:{worker_port}")
        prom = prometheus_process(tmp_path / "prom", config, prom_port)
        try:
            yield {
                "web": base_url,
                "worker": f"http://127.0.0.1:{worker_port}",
                "prometheus": f"http://127.0.0.1:{prom_port}",
                "logs": (worker_log, web_log),
            }
            wait_for_idle_worker()
        finally:
            prom.terminate()
            prom.wait(20)


def query(prometheus: str, expr: str, by: str = "") -> dict:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}).json()
    assert answer["status"] == "success", answer
    return {m["metric"].get(by, ""): float(m["value"][1]) for m in answer["data"]["result"]}


def eventually(prometheus: str, expr: str, expected: dict, by: str = "") -> None:
    wait_until(
        lambda: query(prometheus, expr, by) == expected,
        timeout=60,
        interval=0.5,
        message=lambda: f"{expr}: {query(prometheus, expr, by)} != {expected}",
    )


def submit(api: httpx.Client, command: str) -> str:
    body = {"template": "python-node", "command": command, "archive": archive_meta(DATA)}
    run = api.post("/api/v1/workspace-runs", json={**body, "reuseArchive": False}).json()
    headers = {"Content-Type": "application/gzip"}
    assert (
        api.put(
            f"/api/v1/workspace-runs/{run['id']}/archive", content=DATA, headers=headers
        ).status_code
        == 200
    )
    assert api.post(f"/api/v1/workspace-runs/{run['id']}/start").status_code == 202
    return run["id"]


def status_of(api: httpx.Client, run_id: str) -> dict:
    return api.get(f"/api/v1/workspace-runs/{run_id}").json()


def test_prometheus_scrapes_the_stack_and_promql_tells_what_happened(monitored, user):
    prom = monitored["prometheus"]
    headers = {"Authorization": f"Bearer {token_issue(user=user)}"}
    api = httpx.Client(base_url=monitored["web"], headers=headers, timeout=30)
    # Only the configured token opens either door; anyone else finds nothing there.
    for base in (monitored["web"], monitored["worker"]):
        assert httpx.get(f"{base}/metrics").status_code == 404
        assert httpx.get(f"{base}/metrics", headers=headers).status_code == 404
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{base}/metrics", headers=bearer).status_code == 200

    ids = {kind: submit(api, command) for kind, command in COMMANDS.items()}
    sleeper = ids["canceled"]
    wait_until(lambda: status_of(api, sleeper)["status"] == "running", timeout=120)
    with api.stream("GET", f"/api/v1/workspace-runs/{sleeper}/events/stream") as stream:
        assert stream.status_code == 200
        eventually(prom, 'sum(crownest_live_viewers{kind="sse"})', {"": 1.0})
        eventually(prom, f'crownest_runs_running{{worker_host="{HOST}"}}', {"": 1.0})
        assert api.post(f"/api/v1/workspace-runs/{sleeper}/cancel").status_code == 202
        for _ in stream.iter_lines():  # the stream ends after the terminal event
            pass
    ended = {
        kind: wait_until(lambda r=run_id: (s := status_of(api, r))["finishedAt"] and s, timeout=120)
        for kind, run_id in ids.items()
    }
    assert [ended[k]["status"] for k in COMMANDS] == ["succeeded", "failed", "failed", "canceled"]
    assert ended["disk_limit"]["failureReason"] == "disk_limit"

    eventually(
        prom,
        "sum by (status) (crownest_runs_ended_total)",
        {"succeeded": 1.0, "failed": 2.0, "canceled": 1.0},
        "status",
    )
    eventually(
        prom,
        'sum by (failure_reason) (crownest_runs_ended_total{status="failed"})',
        {"exit_code": 1.0, "disk_limit": 1.0},
        "failure_reason",
    )
    eventually(prom, "sum(crownest_runs_created_total)", {"": 4.0})
    eventually(prom, "sum(crownest_runs_started_total)", {"": 4.0})
    eventually(prom, 'sum(crownest_events_appended_total{type="terminal"})', {"": 4.0})
    eventually(prom, f'crownest_worker_host_slots_in_use{{worker_host="{HOST}"}}', {"": 0.0})
    eventually(prom, f'crownest_worker_host_slots{{worker_host="{HOST}"}}', {"": 2.0})
    eventually(prom, "sum(crownest_live_viewers)", {"": 0.0})
    eventually(prom, "sum(crownest_evidence_written_total)", {"": 4.0})
    for expr in [
        "histogram_quantile(0.9, sum by (le) (crownest_run_duration_seconds_bucket))",
        "histogram_quantile(0.5, sum by (le) (crownest_run_queue_wait_seconds_bucket))",
        'histogram_quantile(0.5, sum by (le) (crownest_run_phase_seconds_bucket{phase="command"}))',
        "histogram_quantile(0.5, sum by (le) (crownest_evidence_write_latency_seconds_bucket))",
    ]:
        [value] = query(prom, expr).values()
        assert math.isfinite(value) and value > 0, (expr, value)
    assert query(prom, "sum(crownest_pool_takes_total)")[""] == 4.0
    assert query(prom, "up", "job") == {"crownest-web": 1.0, "crownest-worker": 1.0}
    rules = httpx.get(f"{prom}/api/v1/rules").json()["data"]["groups"][0]["rules"]
    assert len(rules) == 9 and {r["health"] for r in rules} == {"ok"}, rules
    firing = httpx.get(f"{prom}/api/v1/alerts").json()["data"]["alerts"]
    assert not [a for a in firing if a["state"] == "firing"], firing

    answered = 0
    for expr in dashboard_queries():  # the Grafana dashboard's queries run on this data
        answer = httpx.get(f"{prom}/api/v1/query", params={"query": expr}).json()
        assert answer["status"] == "success", (expr, answer)
        answered += bool(answer["data"]["result"])
    # Some have nothing to show on this data (no run queued now, no pooled sandbox removed).
    assert answered >= len(dashboard_queries()) * 2 // 3

    worker_log, web_log = monitored["logs"]
    lines = [
        json.loads(line) for line in worker_log.read_text().splitlines() if line.startswith("{")
    ]
    about = [line for line in lines if line.get("run_id") == ids["failed"]]
    assert about and {line["worker_host"] for line in about} == {HOST}
    web_lines = [
        json.loads(line) for line in web_log.read_text().splitlines() if line.startswith("{")
    ]
    assert all(
        "request_id" in line for line in web_lines if line["logger"].startswith("django.request")
    )
