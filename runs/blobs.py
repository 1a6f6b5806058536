"""Where archives and artifacts are stored: the default storage (MEDIA_ROOT, or S3 when a
bucket is configured). One accessor so that every part asks the same backend.

With S3 nothing lands under MEDIA_ROOT: temporary files go to the system's temporary folder,
and presigned URLs let clients reach objects without the bytes passing through this process."""

import functools
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import storages


def storage():
    return storages["default"]


def s3_storage():
    """The default storage when it is S3 (django-storages), else None."""
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # django-storages is optional for a local-disk deployment
        return None
    default = storage()
    return default if isinstance(default, S3Storage) else None


def temp_dir() -> str | None:
    """Where a whole archive waits before it is stored: beside the storage folder on the local
    disk (a rename then moves it), the system's temporary folder (None) with object storage."""
    if s3_storage() is not None:
        return None
    folder = Path(settings.MEDIA_ROOT) / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


def object_key(store, name: str) -> str:
    from storages.utils import clean_name

    return store._normalize_name(clean_name(name))


def server_client(store):
    """A process-wide S3 client for the server's own calls (multipart uploads, ListParts,
    GetObject). django-storages keeps one per thread, and Django runs each ASGI request's sync
    code in a thread of its own, so its client (a few hundred ms of CPU to build) would be
    built again for every request."""
    return _client(store, store.endpoint_url or None, store.signature_version or None)


def public_client(store):
    """An S3 client that signs URLs (SigV4, which every S3 region and S3-compatible server
    takes) for the endpoint clients reach: CROWNEST_S3_PUBLIC_ENDPOINT_URL, else the server's
    own (a signature covers the host)."""
    endpoint = settings.CROWNEST_S3_PUBLIC_ENDPOINT_URL or store.endpoint_url
    return _client(store, endpoint or None, "s3v4")


def _client(store, endpoint, signature_version):
    return _cached_client(
        endpoint,
        store.access_key or None,
        store.secret_key or None,
        store.security_token or None,
        store.region_name or None,
        store.addressing_style,
        signature_version,
        store.verify,  # None (the default: verify), False, or a CA bundle path
    )


@functools.lru_cache(maxsize=8)
def _cached_client(endpoint, access_key, secret_key, token, region, addressing, signing, verify):
    import boto3
    from botocore.config import Config

    config = Config(
        signature_version=signing,
        s3={"addressing_style": addressing or "auto"},
        max_pool_connections=20,
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=token,
        region_name=region,
        config=config,
        verify=verify,
    )


def presigned_get(name: str, *, filename: str, content_type: str, seconds: int) -> str | None:
    """A short-lived URL that downloads a stored object as an attachment; None without S3."""
    store = s3_storage()
    if store is None:
        return None
    safe = [c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename]
    plain = "".join(safe)
    disposition = f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename)}"
    return public_client(store).generate_presigned_url(
        "get_object",
        Params={
            "Bucket": store.bucket_name,
            "Key": object_key(store, name),
            "ResponseContentDisposition": disposition,
            "ResponseContentType": content_type,
        },
        ExpiresIn=seconds,
        HttpMethod="GET",
    )
