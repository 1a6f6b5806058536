"""Reading settings from the environment (used by the settings package alone)."""

import hashlib
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def env_str(name, default):
    return os.environ.get(name, default)


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_bool(name, default):
    return os.environ.get(name, str(default)).strip().lower() in ("1", "true", "yes", "on")


def env_list(name, default):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def s3_storages(bucket: str) -> dict:
    """STORAGES with the default storage in an S3 bucket (CROWNEST_S3_*)."""
    return {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": env_str("CROWNEST_S3_ENDPOINT_URL", "") or None,
                "access_key": env_str("CROWNEST_S3_ACCESS_KEY_ID", "") or None,
                "secret_key": env_str("CROWNEST_S3_SECRET_ACCESS_KEY", "") or None,
                "region_name": env_str("CROWNEST_S3_REGION", "") or None,
                "file_overwrite": False,
                # S3File buffers a whole object in memory unless this spills it to disk.
                "max_memory_size": 8 * 1024 * 1024,
            },
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def secret_key(path: Path) -> str:
    """CROWNEST_SECRET_KEY, else the file that `make setup` generates once (mode 0600) for a
    local install. A production host sets one of the two; with neither, nothing starts."""
    key = os.environ.get("CROWNEST_SECRET_KEY", "")
    if not key and path.is_file():
        key = path.read_text().strip()
    if not key:
        raise ImproperlyConfigured(
            "Set CROWNEST_SECRET_KEY (or CROWNEST_SECRET_KEY_FILE); `make setup` generates "
            f"{path} for a local install."
        )
    return key


def recipe_tag(here: Path) -> str:
    """A template image's tag. Must match build.sh: sha256 of build.sh followed by
    packages.txt, first 12 hex digits."""
    try:
        data = (here / "build.sh").read_bytes() + (here / "packages.txt").read_bytes()
    except OSError:
        return "latest"
    return hashlib.sha256(data).hexdigest()[:12]
