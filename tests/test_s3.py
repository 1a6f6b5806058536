"""Archives on S3-compatible storage: a staged transfer as a real multipart upload (against a
moto server), then a run whose worker reads the archive back from the bucket.

The suite's shared worker was started with the local disk as storage, so this file starts its
own worker with the CROWNEST_S3_* settings, listening on a queue of its own; the test routes
the run's task there by hand (the production code enqueues to the default queue)."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import boto3
import pytest
from django.conf import settings

from runs import tasks
from runs.models import Run, Transfer

from .helpers import (
    Runs,
    Staged,
    error_of,
    free_port,
    make_targz,
    port_open,
    started,
    to_queue,
    worker_process,
)

pytestmark = pytest.mark.s3

BUCKET = "crownest-test"
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
QUEUE = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-s3"
PAYLOAD = os.urandom(11 * 1024 * 1024)  # three parts of the 5 MiB minimum
ARCHIVE = make_targz({"big.bin": PAYLOAD})


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    port = free_port()
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
        boto3.client("s3", endpoint_url=url, region_name="us-east-1", **KEYS).create_bucket(
            Bucket=BUCKET
        )
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def s3_worker(moto, live_worker, tmp_path_factory):
    """A second worker, configured for S3, on its own queue (after the shared one exists, so
    the test database is set up)."""
    env = {
        "CROWNEST_S3_BUCKET": BUCKET,
        "CROWNEST_S3_ENDPOINT_URL": moto,
        "CROWNEST_S3_ACCESS_KEY_ID": KEYS["aws_access_key_id"],
        "CROWNEST_S3_SECRET_ACCESS_KEY": KEYS["aws_secret_access_key"],
        "CROWNEST_S3_REGION": "us-east-1",
    }
    with worker_process(QUEUE, tmp_path_factory.mktemp("s3worker"), env, concurrency=1) as (
        proc,
        _,
    ):
        yield proc


@pytest.fixture
def on_s3(moto, settings):
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
    settings.CROWNEST_TRANSFER_CHUNK = 1024  # raised to S3's 5 MiB part minimum
    return boto3.client("s3", endpoint_url=moto, region_name="us-east-1", **KEYS)


def _open_uploads(s3) -> list:
    return s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])


@pytest.mark.docker
def test_staged_transfer_to_s3_then_a_run_reads_it(s3_worker, transactional_db, on_s3, api):
    staged, runs = Staged(api), Runs(api)
    run = staged.run(ARCHIVE, command="sha256sum big.bin")
    transfer = staged.create(run["id"])
    assert transfer["chunkSizeBytes"] == 5 * 1024 * 1024
    staged.send_all(transfer, ARCHIVE)
    row = Transfer.objects.get(pk=transfer["id"])
    assert len(row.parts) == 3 and row.s3_upload_id
    assert [u["UploadId"] for u in _open_uploads(on_s3)] == [row.s3_upload_id]

    resp = staged.complete(transfer)
    assert resp.status_code == 200, resp.content
    key = Run.objects.get(pk=run["id"]).archive_file
    stored = on_s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(ARCHIVE).hexdigest()
    assert _open_uploads(on_s3) == []

    with mock.patch.object(tasks.execute_run, "delay_on_commit", to_queue(QUEUE)):
        assert runs.start(run["id"]).status_code == 202
    done = runs.wait(run["id"])
    assert done["status"] == "succeeded", (done, runs.output(run["id"], "stderr"))
    assert hashlib.sha256(PAYLOAD).hexdigest() in runs.output(run["id"])


@pytest.mark.django_db
def test_failed_and_aborted_s3_transfers_leave_nothing(on_s3, api):
    staged = Staged(api)
    bad = staged.run(ARCHIVE, sha256="f" * 64)
    transfer = staged.create(bad["id"])
    staged.send_all(transfer, ARCHIVE)
    key = Transfer.objects.get(pk=transfer["id"]).temp_name
    resp = staged.complete(transfer)
    assert resp.status_code == 422 and error_of(resp)["code"] == "archive_digest_mismatch"
    assert on_s3.list_objects_v2(Bucket=BUCKET, Prefix=key).get("KeyCount") == 0

    aborted = staged.create(staged.run(ARCHIVE)["id"])
    assert staged.put(aborted, ARCHIVE, 0).status_code == 200
    assert _open_uploads(on_s3)
    assert staged.delete(aborted).status_code == 204
    assert _open_uploads(on_s3) == []
    assert Transfer.objects.get(pk=aborted["id"]).s3_upload_id == ""
