"""Worker hosts' names and heartbeats, metrics, the audit log and logging (docs/operations.md,
"Monitoring" and "Audit")."""

import os
import socket
from pathlib import Path

from ..env import env_bool, env_int, env_list, env_str

# Worker hosts (docs/deploy.md, docs/operations.md): name, heartbeat, lost after, kept sandboxes.
CROWNEST_WORKER_HOST = env_str("CROWNEST_WORKER_HOST", socket.gethostname())
CROWNEST_HOST_HEARTBEAT_SECONDS = env_int("CROWNEST_HOST_HEARTBEAT_SECONDS", 5)
CROWNEST_HOST_LOST_SECONDS = env_int("CROWNEST_HOST_LOST_SECONDS", 60)
CROWNEST_KEPT_SANDBOX_SECONDS = env_int("CROWNEST_KEPT_SANDBOX_SECONDS", 24 * 3600)

# /metrics on the web process and the worker host's exporter answer only a caller that sends
# `Authorization: Bearer <CROWNEST_METRICS_TOKEN>` or comes from an address (or network) of
# CROWNEST_METRICS_ALLOW; everyone else gets 404. Both empty (the default): nobody.
CROWNEST_METRICS_TOKEN = env_str("CROWNEST_METRICS_TOKEN", "")
CROWNEST_METRICS_TOKEN_FILE = env_str("CROWNEST_METRICS_TOKEN_FILE", "")
if CROWNEST_METRICS_TOKEN_FILE and not CROWNEST_METRICS_TOKEN:
    with open(CROWNEST_METRICS_TOKEN_FILE) as _fh:
        CROWNEST_METRICS_TOKEN = _fh.read().strip()
CROWNEST_METRICS_ALLOW = env_list("CROWNEST_METRICS_ALLOW", "")
# Each worker host serves its metrics on this port (0: not at all) and address. With Celery's
# prefork pool the worker processes share counts through PROMETHEUS_MULTIPROC_DIR (a directory
# of this host's worker alone, emptied before the worker starts).
CROWNEST_METRICS_PORT = env_int("CROWNEST_METRICS_PORT", 0)
CROWNEST_METRICS_ADDRESS = env_str("CROWNEST_METRICS_ADDRESS", "127.0.0.1")
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # prometheus_client fails at import without it
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
# Off only to measure what metrics and the audit log cost (bench/load.py --ops-overhead).
CROWNEST_METRICS_ENABLED = env_bool("CROWNEST_METRICS_ENABLED", True)
CROWNEST_AUDIT_ENABLED = env_bool("CROWNEST_AUDIT_ENABLED", True)

# Logs: readable text by default; CROWNEST_LOG_FORMAT=json writes one JSON object per line with
# run_id, worker_host and request_id where known (ops/logs.py).
CROWNEST_LOG_FORMAT = env_str("CROWNEST_LOG_FORMAT", "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "ops.logs.ContextFilter"}},
    "formatters": {
        "text": {"()": "ops.logs.TextFormatter"},
        "json": {"()": "ops.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context"],
            "formatter": "json" if CROWNEST_LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": env_str("CROWNEST_LOG_LEVEL", "INFO")},
}
