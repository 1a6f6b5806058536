"""Fixtures for object storage: a moto S3 server per module, a worker (and a daphne) configured
for it, and the in-process settings that point the default storage at it.

Import the fixtures by name into a test module. The suite's shared worker and daphne use the
local disk, so the S3 worker listens on a queue of its own (route a run's task there with
helpers.to_queue) and every S3 process shares one media folder of its own, which a test can
check stays empty."""

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from django.conf import settings

from .helpers import daphne_process, free_port, port_open, started, worker_process

BUCKET = "crownest-test"
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
QUEUE = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-s3"
# Browsers PUT parts straight to the bucket: it must allow the page's origin (operators set
# the same rule on theirs, docs/transfers.md).
CORS = {
    "CORSRules": [
        {
            "AllowedOrigins": ["*"],
            "AllowedMethods": ["PUT", "GET"],
            "AllowedHeaders": ["*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 600,
        }
    ]
}


def s3_client(url: str):
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", **KEYS)


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    # CROWNEST_TEST_MOTO_PORT pins the port (machines that reserve a range for it).
    port = int(os.environ.get("CROWNEST_TEST_MOTO_PORT") or free_port())
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        started(proc, "moto_server", log, lambda: port_open(port), timeout=30)
        url = f"http://127.0.0.1:{port}"
        client = s3_client(url)
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_cors(Bucket=BUCKET, CORSConfiguration=CORS)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def s3_media(tmp_path_factory) -> Path:
    """The media root of every S3-configured process here: nothing should land in it."""
    return tmp_path_factory.mktemp("s3media")


@pytest.fixture(scope="module")
def s3_env(moto, s3_media) -> dict:
    return {
        "CROWNEST_S3_BUCKET": BUCKET,
        "CROWNEST_S3_ENDPOINT_URL": moto,
        "CROWNEST_S3_ACCESS_KEY_ID": KEYS["aws_access_key_id"],
        "CROWNEST_S3_SECRET_ACCESS_KEY": KEYS["aws_secret_access_key"],
        "CROWNEST_S3_REGION": "us-east-1",
        "CROWNEST_MEDIA_ROOT": str(s3_media),
        # Runs started through an S3-configured web process go to the S3 worker.
        "CROWNEST_QUEUE": QUEUE,
    }


@pytest.fixture(scope="module")
def s3_worker(s3_env, live_worker, tmp_path_factory):
    """A second worker, configured for S3, on its own queue (after the shared one exists, so
    the test database is set up)."""
    folder = tmp_path_factory.mktemp("s3worker")
    with worker_process(QUEUE, folder, s3_env, concurrency=1) as (proc, _):
        yield proc


@pytest.fixture(scope="module")
def s3_web(s3_env, live_worker, tmp_path_factory):
    """A daphne configured for S3 (presigned transfers on); yields its base URL."""
    env = {
        **s3_env,
        "CROWNEST_PRESIGNED_PART": str(5 * 1024 * 1024),
        "CROWNEST_ARTIFACT_REDIRECT": "true",
    }
    with daphne_process(tmp_path_factory.mktemp("s3web"), env) as (_proc, _log, base_url):
        yield base_url


@pytest.fixture
def on_s3(moto, s3_media, settings):
    """This process's default storage in the bucket; returns a boto3 client of it."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": moto,
                "access_key": KEYS["aws_access_key_id"],
                "secret_key": KEYS["aws_secret_access_key"],
                "region_name": "us-east-1",
                "file_overwrite": False,
            },
        },
    }
    settings.MEDIA_ROOT = s3_media
    settings.CROWNEST_TRANSFER_CHUNK = 1024  # raised to S3's 5 MiB part minimum
    settings.CROWNEST_PRESIGNED_PART = 1024  # raised likewise
    return s3_client(moto)


def open_uploads(s3) -> list:
    return s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())
