"""Archives on S3-compatible storage: a staged transfer as a real multipart upload (against a
moto server), then a run whose worker reads the archive back from the bucket.

The suite's shared worker was started with the local disk as storage, so this file starts its
own worker with the CROWNEST_S3_* settings, listening on a queue of its own; the test routes
the run's task there by hand (the production code enqueues to the default queue)."""

import hashlib
import os
from unittest import mock

import pytest

from runs import tasks
from runs.models import Run, Transfer

from .helpers import Runs, Staged, error_of, make_targz, to_queue
from .s3support import BUCKET, QUEUE, open_uploads

pytestmark = pytest.mark.s3

PAYLOAD = os.urandom(11 * 1024 * 1024)  # three parts of the 5 MiB minimum
ARCHIVE = make_targz({"big.bin": PAYLOAD})


@pytest.mark.docker
def test_staged_transfer_to_s3_then_a_run_reads_it(s3_worker, transactional_db, on_s3, api):
    staged, runs = Staged(api), Runs(api)
    run = staged.run(ARCHIVE, command="sha256sum big.bin")
    transfer = staged.create(run["id"], mode="chunked")
    assert transfer["chunkSizeBytes"] == 5 * 1024 * 1024
    staged.send_all(transfer, ARCHIVE)
    row = Transfer.objects.get(pk=transfer["id"])
    assert len(row.parts) == 3 and row.s3_upload_id
    assert [u["UploadId"] for u in open_uploads(on_s3)] == [row.s3_upload_id]

    resp = staged.complete(transfer)
    assert resp.status_code == 200, resp.content
    key = Run.objects.get(pk=run["id"]).archive_file
    stored = on_s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(ARCHIVE).hexdigest()
    assert open_uploads(on_s3) == []

    with mock.patch.object(tasks.execute_run, "delay_on_commit", to_queue(QUEUE)):
        assert runs.start(run["id"]).status_code == 202
    done = runs.wait(run["id"])
    assert done["status"] == "succeeded", (done, runs.output(run["id"], "stderr"))
    assert hashlib.sha256(PAYLOAD).hexdigest() in runs.output(run["id"])


@pytest.mark.django_db
def test_failed_and_aborted_s3_transfers_leave_nothing(on_s3, api):
    staged = Staged(api)
    bad = staged.run(ARCHIVE, sha256="f" * 64)
    transfer = staged.create(bad["id"], mode="chunked")
    staged.send_all(transfer, ARCHIVE)
    key = Transfer.objects.get(pk=transfer["id"]).temp_name
    resp = staged.complete(transfer)
    assert resp.status_code == 422 and error_of(resp)["code"] == "archive_digest_mismatch"
    assert on_s3.list_objects_v2(Bucket=BUCKET, Prefix=key).get("KeyCount") == 0

    aborted = staged.create(staged.run(ARCHIVE)["id"], mode="chunked")
    assert staged.put(aborted, ARCHIVE, 0).status_code == 200
    assert open_uploads(on_s3)
    assert staged.delete(aborted).status_code == 204
    assert open_uploads(on_s3) == []
    assert Transfer.objects.get(pk=aborted["id"]).s3_upload_id == ""
