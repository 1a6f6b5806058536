"""Where archives and artifacts are stored: the default storage (MEDIA_ROOT, or S3 when a
bucket is configured). One accessor so that every part asks the same backend."""

from django.core.files.storage import storages


def storage():
    return storages["default"]
