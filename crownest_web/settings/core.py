"""Django itself and the libraries it runs with: security, apps, middleware, database, static and
media files, Celery, Channels, DRF and the OpenAPI schema."""

from pathlib import Path

import dj_database_url

from ..env import env_bool, env_int, env_list, env_str, secret_key
from .paths import BASE_DIR, VAR_DIR

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
        "ArchivePhase": ["upload", "verify", "pull", "extract"],
        "TransferMode": "runs.models.Transfer.Mode",
        "Verdict": "evidence.models.Review.Verdict",
        "NetworkMode": ["none", "allowlist", "replay"],
        "UsageScope": ["user", "team"],
        "TeamRole": "runs.models.Membership.Role",
    },
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
}
