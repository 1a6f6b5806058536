"""The one settings module: every knob is an environment variable with a safe default."""

import os
from pathlib import Path

import dj_database_url

from .env import env_bool, env_int, env_list, env_str, recipe_tag, s3_storages, secret_key
from .settings_access import *  # noqa: F403 (signing in, passwords, per-user caps)
from .settings_egress import *  # noqa: F403 (CROWNEST_EGRESS_*: a block of their own, beside)
from .settings_ops import *  # noqa: F403 (metrics, the audit log, logging)
from .settings_stream import *  # noqa: F403 (live output: flushes, viewers' window and set-ups)
from .settings_web import *  # noqa: F403 (the web server: body timeouts, keep-alive, shutdown)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CROWNEST_VAR_DIR", BASE_DIR / "var"))


# Safe by default: debug only when asked for; no fixed fallback secret.
DEBUG = env_bool("CROWNEST_DEBUG", False)
SECRET_KEY_FILE = Path(env_str("CROWNEST_SECRET_KEY_FILE", VAR_DIR / "secret_key"))


SECRET_KEY = secret_key(SECRET_KEY_FILE)
ALLOWED_HOSTS = env_list("CROWNEST_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CROWNEST_CSRF_TRUSTED_ORIGINS", "http://127.0.0.1:8000")
# Behind TLS (directly or through a proxy that sets X-Forwarded-Proto): secure cookies, HSTS,
# and redirects to https. Off for the plain-http local install.
CROWNEST_HTTPS = env_bool("CROWNEST_HTTPS", False)
if CROWNEST_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("CROWNEST_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("CROWNEST_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("CROWNEST_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading is a commitment for the whole domain, so it is the operator's opt-in.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
PUBLIC_URL = env_str("CROWNEST_PUBLIC_URL", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "axes",
    "runs",
    "evidence",
    "ops",
]

MIDDLEWARE = [
    "ops.middleware.RequestContextMiddleware",  # first: every answer carries X-Request-ID
    "django.middleware.security.SecurityMiddleware",
    "crownest_web.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "ops.middleware.AuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "crownest_web.cache_headers.PrivateNoStoreMiddleware",  # after WhiteNoise's static files
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "crownest_web.urls"
ASGI_APPLICATION = "crownest_web.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'crownest.sqlite3'}"), conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The worker and the web process write concurrently: wait for the lock instead of failing,
    # take the write lock when a transaction begins (a deferred one that upgrades later fails
    # at once with "database is locked"), and let readers run beside the writer (WAL).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=30,
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = Path(env_str("CROWNEST_MEDIA_ROOT", VAR_DIR / "media"))
# Archives arrive as a stream that the view reads itself; Django must not cap or buffer it.
DATA_UPLOAD_MAX_MEMORY_SIZE = None
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env_str("CROWNEST_QUEUE", "crownest")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CROWNEST_VISIBILITY_TIMEOUT", 7200)
}
# Each worker host runs its reaper pass every this many seconds (0: never; runs/worker/hosts.py).
CROWNEST_REAPER_INTERVAL = env_int("CROWNEST_REAPER_INTERVAL", 30)
CELERY_BEAT_SCHEDULE = {
    "sweep-transfers": {"task": "runs.tasks.sweep_transfers", "schedule": 600},
    "retention-sweep": {"task": "runs.tasks.retention_sweep", "schedule": 3600},
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("CROWNEST_CHANNEL_PREFIX", "crownest")},
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "runs.http.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Refuses a JSON body over CROWNEST_MAX_JSON_BODY before reading it whole.
    "DEFAULT_PARSER_CLASSES": ["runs.http.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "runs.http.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env_str("CROWNEST_API_RATE", "6000/min")},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CrowNest Workspace Runs API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The product works offline: Swagger UI is served from the vendored sidecar, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The schema is the contract clients are generated from: runs/http/schema.py completes it.
    "OAS_VERSION": "3.1.0",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "runs.http.schema.postprocess",
    ],
    "ENUM_NAME_OVERRIDES": {
        "RunStatus": "runs.models.Run.Status",
        "FailureReason": "runs.models.Run.Failure",
        "TransferStatus": "runs.models.Transfer.Status",
        "TerminalStatus": ["succeeded", "failed", "canceled"],
        "HealthStatus": ["ok", "unavailable"],
        "UploadMethod": ["direct", "staged", "reused"],
        "ArchivePhase": ["upload", "verify", "extract"],
        "TransferMode": "runs.models.Transfer.Mode",
        "Verdict": "evidence.models.Review.Verdict",
        "NetworkMode": ["none", "allowlist", "replay"],
    },
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
}

# --- Workspace Runs --------------------------------------------------------------------------
MIB = 1024 * 1024
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
