"""Staged transfer: chunks, resume, idempotent resends, offsets, verification, abort, expiry."""

import hashlib
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from runs.intake.transfers import transfer_sweep
from runs.models import Run, Transfer

from .helpers import Runs, Staged, error_of, make_targz

CHUNK = 1024
PAYLOAD = os.urandom(5000)  # incompressible: the archive spans several chunks
ARCHIVE = make_targz({"data.bin": PAYLOAD, "README.md": "hello\n"})


@pytest.fixture(autouse=True)
def small_chunks(settings):
    settings.CROWNEST_TRANSFER_CHUNK = CHUNK


@pytest.fixture
def staged(api):
    return Staged(api)


def temp_path(transfer: dict) -> Path:
    return Path(settings.MEDIA_ROOT) / Transfer.objects.get(pk=transfer["id"]).temp_name


@pytest.mark.django_db
def test_create_answers_the_documented_shape(staged):
    run = staged.run(ARCHIVE)
    transfer = staged.create(run["id"])
    assert set(transfer) == {
        "id",
        "runId",
        "mode",
        "uploadUrl",
        "chunkSizeBytes",
        "receivedBytes",
        "sizeBytes",
        "status",
        "expiresAt",
    }
    assert transfer["id"].startswith("tr_") and transfer["runId"] == run["id"]
    assert transfer["uploadUrl"] == f"http://testserver/api/v1/transfers/{transfer['id']}"
    assert transfer["chunkSizeBytes"] == CHUNK
    assert (transfer["receivedBytes"], transfer["sizeBytes"]) == (0, len(ARCHIVE))
    assert transfer["status"] == "open" and transfer["expiresAt"].endswith("Z")
    assert transfer["mode"] == "chunked"  # the local disk: chunks through the server


@pytest.mark.docker
def test_multi_chunk_upload_then_a_run_uses_it(worker, api):
    staged, runs = Staged(api), Runs(api)
    run = staged.run(ARCHIVE, command="sha256sum data.bin && test -s README.md")
    transfer = staged.create(run["id"])
    assert len(ARCHIVE) > 4 * CHUNK
    assert staged.send_all(transfer, ARCHIVE)["receivedBytes"] == len(ARCHIVE)
    resp = staged.complete(transfer)
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "ready"
    stored = Run.objects.get(pk=run["id"])
    assert stored.archive_upload_method == "staged" and stored.archive_file_count == 2
    assert staged.get(transfer).json()["status"] == "completed"

    resp = runs.start(run["id"])
    assert resp.status_code == 202, resp.content
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    run_id = run["id"]
    done = runs.wait(run_id)
    assert done["status"] == "succeeded", done
    assert digest in runs.output(run_id)
    phases = [e["data"]["phase"] for e in runs.events(run_id) if e["type"] == "archive_progress"]
    assert "upload" in phases and "verify" in phases
    assert phases.count("upload") <= 11  # throttled to about every 10%


@pytest.mark.django_db
def test_interrupted_chunk_then_resume_from_received_bytes(staged):
    run = staged.run(ARCHIVE)
    transfer = staged.create(run["id"])
    for offset in (0, CHUNK):
        assert staged.put(transfer, ARCHIVE, offset).status_code == 200
    # The connection drops mid-chunk: fewer bytes than the range announced.
    cut = staged.put(transfer, ARCHIVE, 2 * CHUNK, body=ARCHIVE[2 * CHUNK : 2 * CHUNK + 100])
    assert cut.status_code == 400
    assert temp_path(transfer).stat().st_size == 2 * CHUNK  # nothing half-written kept

    state = staged.get(transfer).json()
    assert state["receivedBytes"] == 2 * CHUNK and state["status"] == "open"
    staged.send_all(transfer, ARCHIVE, start=state["receivedBytes"])
    resp = staged.complete(transfer)
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "ready"
    assert Transfer.objects.get(pk=transfer["id"]).temp_name == ""
    archive = Path(settings.MEDIA_ROOT) / Run.objects.get(pk=run["id"]).archive_file
    assert archive.read_bytes() == ARCHIVE
    assert not list((Path(settings.MEDIA_ROOT) / "tmp" / "transfers").glob(transfer["id"] + "*"))


@pytest.mark.django_db
def test_a_gap_or_a_different_overlap_is_409_with_received_bytes(staged):
    transfer = staged.create(staged.run(ARCHIVE)["id"])
    assert staged.put(transfer, ARCHIVE, 0).status_code == 200
    gap = staged.put(transfer, ARCHIVE, 2 * CHUNK)
    assert gap.status_code == 409
    err = error_of(gap)
    assert err["code"] == "transfer_offset_mismatch"
    assert err["details"] == {"receivedBytes": CHUNK}
    other = bytes(b ^ 0xFF for b in ARCHIVE)
    changed = staged.put(transfer, other, 0)
    assert changed.status_code == 409 and error_of(changed)["details"]["receivedBytes"] == CHUNK
    shifted = staged.put(transfer, ARCHIVE, 10, header=f"bytes 10-{CHUNK + 9}/{len(ARCHIVE)}")
    assert shifted.status_code == 409
    assert error_of(shifted)["code"] == "transfer_offset_mismatch"


@pytest.mark.django_db
def test_a_repeated_chunk_is_idempotent(staged):
    transfer = staged.create(staged.run(ARCHIVE)["id"])
    staged.put(transfer, ARCHIVE, 0)
    staged.put(transfer, ARCHIVE, CHUNK)
    before = Transfer.objects.get(pk=transfer["id"])
    on_disk = temp_path(transfer).read_bytes()
    again = staged.put(transfer, ARCHIVE, 0)
    assert again.status_code == 200 and again.json()["receivedBytes"] == 2 * CHUNK
    after = Transfer.objects.get(pk=transfer["id"])
    assert (after.received_bytes, after.parts) == (before.received_bytes, before.parts)
    assert temp_path(transfer).read_bytes() == on_disk == ARCHIVE[: 2 * CHUNK]


@pytest.mark.django_db
def test_wrong_digest_fails_the_transfer_and_deletes_its_data(staged):
    run = staged.run(ARCHIVE, sha256="0" * 64)
    transfer = staged.create(run["id"])
    staged.send_all(transfer, ARCHIVE)
    path = temp_path(transfer)
    assert path.stat().st_size == len(ARCHIVE)
    resp = staged.complete(transfer)
    assert resp.status_code == 422
    assert error_of(resp)["code"] == "archive_digest_mismatch"
    assert not path.exists()
    assert Transfer.objects.get(pk=transfer["id"]).temp_name == ""
    assert staged.get(transfer).json()["status"] == "failed"
    assert Run.objects.get(pk=run["id"]).status == "awaiting_archive"
    assert staged.create(run["id"])["status"] == "open"  # the client may try again


@pytest.mark.parametrize(
    "data,status,code",
    [
        (make_targz({"../evil": "x"}), 422, "archive_unsafe"),
        (b"plain text, not gzip" * 100, 415, "unsupported_archive"),
    ],
)
@pytest.mark.django_db
def test_bad_archives_are_refused_at_complete(staged, data, status, code):
    run = staged.run(data)
    transfer = staged.create(run["id"])
    staged.send_all(transfer, data)
    path = temp_path(transfer)
    resp = staged.complete(transfer)
    assert resp.status_code == status and error_of(resp)["code"] == code
    assert not path.exists()
    assert Run.objects.get(pk=run["id"]).status == "awaiting_archive"


@pytest.mark.django_db
def test_complete_before_every_byte_arrived_is_409(staged):
    transfer = staged.create(staged.run(ARCHIVE)["id"])
    staged.put(transfer, ARCHIVE, 0)
    resp = staged.complete(transfer)
    assert resp.status_code == 409 and error_of(resp)["code"] == "transfer_incomplete"
    assert staged.get(transfer).json()["status"] == "open"


@pytest.mark.django_db
def test_abort_deletes_the_data(staged):
    transfer = staged.create(staged.run(ARCHIVE)["id"])
    staged.put(transfer, ARCHIVE, 0)
    path = temp_path(transfer)
    assert path.exists()
    assert staged.delete(transfer).status_code == 204
    assert not path.exists()
    # Aborted is gone (DELETE removed it): 404 to every call but a repeated DELETE.
    gone = staged.get(transfer)
    assert gone.status_code == 404 and error_of(gone)["details"]["status"] == "aborted"
    assert "POST" in error_of(gone)["message"]
    late = staged.put(transfer, ARCHIVE, CHUNK)
    assert late.status_code == 404 and error_of(late)["code"] == "not_found"
    assert staged.complete(transfer).status_code == 404
    assert staged.delete(transfer).status_code == 204


@pytest.mark.django_db
def test_an_expired_transfer_is_swept(staged):
    transfer = staged.create(staged.run(ARCHIVE)["id"])
    staged.put(transfer, ARCHIVE, 0)
    path = temp_path(transfer)
    keep = staged.create(staged.run(ARCHIVE)["id"])
    Transfer.objects.filter(pk=transfer["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert staged.get(transfer).json()["status"] == "expired"
    assert staged.put(transfer, ARCHIVE, CHUNK).status_code == 409
    assert transfer_sweep() == {"expired": 1, "discarded": 1}
    assert not path.exists()
    assert Transfer.objects.get(pk=transfer["id"]).status == "expired"
    assert staged.get(keep).json()["status"] == "open" and temp_path(keep).exists()
    assert transfer_sweep() == {"expired": 0, "discarded": 0}


@pytest.mark.django_db
def test_a_foreign_transfer_is_not_found(staged, other_api):
    run = staged.run(ARCHIVE)
    transfer = staged.create(run["id"])
    mallory = Staged(other_api)
    assert other_api.post(f"/api/v1/workspace-runs/{run['id']}/transfers").status_code == 404
    for resp in (
        mallory.get(transfer),
        mallory.put(transfer, ARCHIVE, 0),
        mallory.complete(transfer),
        mallory.delete(transfer),
    ):
        assert resp.status_code == 404 and error_of(resp)["code"] == "not_found"
    assert staged.get(transfer).json()["receivedBytes"] == 0
    assert staged.get(transfer).json()["status"] == "open"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes=0-1023/{n}",
        "bytes a-b/{n}",
        "bytes 0-1023/*",
        "bytes -1-1023/{n}",
        "bytes 1023-0/{n}",
        "bytes 0-1023/{wrong}",
        "bytes 0-{n}/{n}",
        "bytes 0-2047/{n}",
        "bytes 0-99/{n}",
        "bytes 0-99999999999999999999/{n}",
        "bytes 0-1023/{n}, bytes 1024-2047/{n}",
    ],
)
@pytest.mark.django_db
def test_hostile_content_range_is_400(staged, header):
    transfer = staged.create(staged.run(ARCHIVE)["id"])
    n = len(ARCHIVE)
    if header is None:
        resp = staged.api.generic(
            "PUT", transfer["uploadUrl"], ARCHIVE[:CHUNK], content_type="application/octet-stream"
        )
    else:
        resp = staged.put(transfer, ARCHIVE, 0, header=header.format(n=n, wrong=n + 1))
    assert resp.status_code == 400, resp.content
    assert error_of(resp)["code"] == "invalid_request"
    assert staged.get(transfer).json()["receivedBytes"] == 0


@pytest.mark.django_db
def test_body_longer_than_the_range_is_400(staged):
    transfer = staged.create(staged.run(ARCHIVE)["id"])
    resp = staged.put(transfer, ARCHIVE, 0, body=ARCHIVE[: CHUNK + 10])
    assert resp.status_code == 400
    assert staged.get(transfer).json()["receivedBytes"] == 0


@pytest.mark.django_db
def test_a_ready_run_takes_no_transfer(staged, runs):
    run = staged.run(ARCHIVE)
    assert runs.upload(run["id"], ARCHIVE).status_code == 200
    resp = staged.api.post(f"/api/v1/workspace-runs/{run['id']}/transfers")
    assert resp.status_code == 409 and error_of(resp)["code"] == "invalid_state"


@pytest.mark.django_db
def test_direct_upload_over_the_limit_points_to_staged_transfer(staged, runs, settings):
    settings.CROWNEST_DIRECT_UPLOAD_LIMIT = 1000
    run = staged.run(ARCHIVE)
    resp = runs.upload(run["id"], ARCHIVE)
    assert resp.status_code == 413 and error_of(resp)["details"]["useStagedTransfer"] is True
