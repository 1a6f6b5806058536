"""Workspace Runs: templates, sandboxes, archives, runs, artifacts, worker hosts, transfers,
retention and object storage (docs/operations.md lists each with its meaning)."""

from pathlib import Path

from ..env import env_bool, env_int, env_str, recipe_tag, s3_storages
from .paths import BASE_DIR, MIB, VAR_DIR

CROWNEST_IMAGES_DIR = BASE_DIR / "images"
CROWNEST_TEMPLATES = {  # only seeds the Template table (manage.py seed_templates, a migration)
    "python-node": {
        "image": env_str(
            "CROWNEST_PYTHON_NODE_IMAGE",
            f"crownest/python-node:{recipe_tag(CROWNEST_IMAGES_DIR / 'python-node')}",
        ),
        "description": "Debian 12 with Python 3, Node.js with npm, git and build tools.",
        "warm": True,  # kept started by the warm pool (staff change it on the template)
    }
}
CROWNEST_TEMPLATE_BUILD_TIMEOUT = env_int("CROWNEST_TEMPLATE_BUILD_TIMEOUT", 1800)  # templates.md
CROWNEST_TEMPLATE_MAX_IMAGE_BYTES = env_int("CROWNEST_TEMPLATE_MAX_IMAGE_BYTES", 4096 * MIB)
CROWNEST_TEMPLATE_MAX_PACKAGES = env_int("CROWNEST_TEMPLATE_MAX_PACKAGES", 50)

CROWNEST_SANDBOX_BACKEND = env_str("CROWNEST_SANDBOX_BACKEND", "docker")
# Labels every sandbox; the reaper only touches its own instance's containers on a shared engine.
CROWNEST_INSTANCE = env_str("CROWNEST_INSTANCE", "default")
# Evidence signing (docs/evidence.md): the worker's private key (ECDSA P-256, PEM, mode 0600;
# `manage.py evidence_keys create` makes one) and the builder id written into every attestation.
CROWNEST_EVIDENCE_KEY_FILE = Path(
    env_str("CROWNEST_EVIDENCE_KEY_FILE", VAR_DIR / "evidence-key.pem")
)
CROWNEST_BUILDER_ID = env_str(
    "CROWNEST_BUILDER_ID", f"https://crownest.dev/builders/{CROWNEST_INSTANCE}"
)
CROWNEST_SANDBOX_NETWORK = env_bool("CROWNEST_SANDBOX_NETWORK", False)
CROWNEST_SANDBOX_USER = env_str("CROWNEST_SANDBOX_USER", "1000:1000")
CROWNEST_SANDBOX_MEMORY = env_str("CROWNEST_SANDBOX_MEMORY", "1g")
CROWNEST_SANDBOX_CPUS = float(env_str("CROWNEST_SANDBOX_CPUS", "1.0"))
CROWNEST_SANDBOX_PIDS = env_int("CROWNEST_SANDBOX_PIDS", 256)
CROWNEST_SANDBOX_TMP_SIZE = env_str("CROWNEST_SANDBOX_TMP_SIZE", "256m")
# Each run's /workspace is a filesystem of this size (a sparse ext4 image on a loop device under
# CROWNEST_SANDBOX_DISK_DIR on the worker's Docker host): writes past it fail with ENOSPC and the
# run ends disk_limit. "" (empty) leaves the workspace unbounded on the engine's disk.
CROWNEST_SANDBOX_DISK = env_str("CROWNEST_SANDBOX_DISK", "2g")
CROWNEST_SANDBOX_DISK_DIR = Path(env_str("CROWNEST_SANDBOX_DISK_DIR", VAR_DIR / "run-disks"))
# The OCI runtime of every sandbox container ("runsc" for gVisor); "" is the engine's default.
CROWNEST_SANDBOX_RUNTIME = env_str("CROWNEST_SANDBOX_RUNTIME", "")
# Started containers kept ready per template and worker host (docs/operations.md, "Warm pool");
# 0 makes every run start cold.
CROWNEST_SANDBOX_POOL_SIZE = env_int("CROWNEST_SANDBOX_POOL_SIZE", 2)
CROWNEST_STOP_GRACE_SECONDS = env_int("CROWNEST_STOP_GRACE_SECONDS", 5)

CROWNEST_DIRECT_UPLOAD_LIMIT = env_int("CROWNEST_DIRECT_UPLOAD_LIMIT", 32 * MIB)
CROWNEST_ARCHIVE_LIMIT = env_int("CROWNEST_ARCHIVE_LIMIT", 2048 * MIB)
CROWNEST_ARCHIVE_MAX_MEMBERS = env_int("CROWNEST_ARCHIVE_MAX_MEMBERS", 100_000)
CROWNEST_ARCHIVE_MAX_EXPANDED = env_int("CROWNEST_ARCHIVE_MAX_EXPANDED", 4096 * MIB)
CROWNEST_ARCHIVE_MAX_PATH = env_int("CROWNEST_ARCHIVE_MAX_PATH", 1024)
CROWNEST_UPLOAD_CHUNK = 256 * 1024

CROWNEST_DEFAULT_TIMEOUT = env_int("CROWNEST_DEFAULT_TIMEOUT", 600)
CROWNEST_MAX_TIMEOUT = env_int("CROWNEST_MAX_TIMEOUT", 3600)
CROWNEST_HEARTBEAT_SECONDS = float(env_str("CROWNEST_HEARTBEAT_SECONDS", "5"))
CROWNEST_OUTPUT_LIMIT = env_int("CROWNEST_OUTPUT_LIMIT", 64 * MIB)
CROWNEST_OUTPUT_LIMIT_FAILS = env_bool("CROWNEST_OUTPUT_LIMIT_FAILS", False)
CROWNEST_EVENT_CHUNK = env_int("CROWNEST_EVENT_CHUNK", 8192)
CROWNEST_SSE_KEEPALIVE_SECONDS = float(env_str("CROWNEST_SSE_KEEPALIVE_SECONDS", "15"))

CROWNEST_ARTIFACT_MAX_BYTES = env_int("CROWNEST_ARTIFACT_MAX_BYTES", 256 * MIB)
CROWNEST_ARTIFACT_MAX_TOTAL = env_int("CROWNEST_ARTIFACT_MAX_TOTAL", 1024 * MIB)
CROWNEST_ARTIFACT_MAX_FILES = env_int("CROWNEST_ARTIFACT_MAX_FILES", 1000)
# Artifact collection's own bounds and uid (docs/operations.md, docs/architecture.md).
CROWNEST_COLLECT_SECONDS = float(env_str("CROWNEST_COLLECT_SECONDS", "30"))
CROWNEST_COLLECT_MAX_ENTRIES = env_int("CROWNEST_COLLECT_MAX_ENTRIES", 100_000)
CROWNEST_COLLECT_MAX_DEPTH = env_int("CROWNEST_COLLECT_MAX_DEPTH", 64)
CROWNEST_COLLECT_MAX_ERRORS = env_int("CROWNEST_COLLECT_MAX_ERRORS", 200)
CROWNEST_COLLECT_UID = env_int("CROWNEST_COLLECT_UID", 2_000_000_000)
CROWNEST_MAX_ARTIFACT_PATHS = 50
CROWNEST_MAX_ENV = 100
CROWNEST_MAX_COMMAND_BYTES = 64 * 1024
# Every env name and value together (Linux refuses an exec past ~2 MiB of argv + env).
CROWNEST_MAX_ENV_BYTES = 64 * 1024
CROWNEST_MAX_JSON_BODY = env_int("CROWNEST_MAX_JSON_BODY", MIB)

# A running run whose worker has not touched it for this long is failed as lost_worker.
CROWNEST_LOST_WORKER_SECONDS = env_int("CROWNEST_LOST_WORKER_SECONDS", 90)
CROWNEST_REQUEUE_SECONDS = env_int("CROWNEST_REQUEUE_SECONDS", 300)
# The worker retries a database write cut by a lost connection (a restart, a failover) for
# this long, reconnecting with backoff, before it gives the run up to the reaper.
CROWNEST_DB_RETRY_SECONDS = float(env_str("CROWNEST_DB_RETRY_SECONDS", "30"))

# Staged transfers (docs/transfers.md): a chunk is one request body.
CROWNEST_TRANSFER_CHUNK = env_int("CROWNEST_TRANSFER_CHUNK", 8 * MIB)
CROWNEST_TRANSFER_TTL_SECONDS = env_int("CROWNEST_TRANSFER_TTL_SECONDS", 24 * 3600)
# Retention (docs/operations.md): days until stored archives / artifacts go (0: never).
CROWNEST_RETENTION_ARCHIVE_DAYS = env_int("CROWNEST_RETENTION_ARCHIVE_DAYS", 30)
CROWNEST_RETENTION_ARTIFACT_DAYS = env_int("CROWNEST_RETENTION_ARTIFACT_DAYS", 90)
CROWNEST_RETENTION_BATCH = env_int("CROWNEST_RETENTION_BATCH", 200)

# Object storage for archives and artifacts instead of MEDIA_ROOT when a bucket is named.
CROWNEST_S3_BUCKET = env_str("CROWNEST_S3_BUCKET", "")
if CROWNEST_S3_BUCKET:
    STORAGES = s3_storages(CROWNEST_S3_BUCKET)
# With S3 (docs/transfers.md): presigned part URLs (signed for the endpoint clients reach) and
# artifact downloads optionally answered with a 302 to a short-lived presigned GET.
CROWNEST_S3_PUBLIC_ENDPOINT_URL = env_str("CROWNEST_S3_PUBLIC_ENDPOINT_URL", "")
CROWNEST_TRANSFER_PRESIGNED = env_bool("CROWNEST_TRANSFER_PRESIGNED", True)
CROWNEST_PRESIGNED_PART = env_int("CROWNEST_PRESIGNED_PART", 32 * MIB)
CROWNEST_PRESIGNED_PAGE = env_int("CROWNEST_PRESIGNED_PAGE", 100)
CROWNEST_ARTIFACT_REDIRECT = env_bool("CROWNEST_ARTIFACT_REDIRECT", False)
CROWNEST_ARTIFACT_REDIRECT_SECONDS = env_int("CROWNEST_ARTIFACT_REDIRECT_SECONDS", 300)
