"""Presigned transfers against a moto S3 server: part URLs, PUTs straight to the bucket, the
checks at complete (the client's part list against ListParts, then size, sha256 and members in
one read), part pages, and the opt-out to chunked."""

import hashlib
import os

import httpx
import pytest
from django.utils import timezone

from runs.intake.transfers import transfer_sweep
from runs.models import Run, Transfer

from .helpers import Staged, error_of, make_targz
from .s3support import BUCKET, open_uploads

pytestmark = [pytest.mark.s3, pytest.mark.django_db]

MIB = 1024 * 1024
PAYLOAD = os.urandom(11 * MIB)  # three parts of the 5 MiB minimum
ARCHIVE = make_targz({"big.bin": PAYLOAD})


def put_part(part: dict, data: bytes) -> httpx.Response:
    return httpx.put(part["url"], content=data[part["start"] : part["end"] + 1], timeout=60)


def send_parts(transfer: dict, data: bytes, skip=()) -> list[dict]:
    """PUT every part but those in `skip`; the part list for complete, in order."""
    sent = []
    for part in transfer["parts"]:
        if part["partNumber"] in skip:
            continue
        resp = put_part(part, data)
        assert resp.status_code == 200, resp.text
        sent.append({"partNumber": part["partNumber"], "etag": resp.headers["ETag"]})
    return sent


def complete(api, transfer: dict, body):
    return api.post(f"/api/v1/transfers/{transfer['id']}/complete", body, format="json")


def test_parts_go_straight_to_the_bucket_and_complete_verifies_them(on_s3, api):
    staged = Staged(api)
    run = staged.run(ARCHIVE)
    transfer = staged.create(run["id"])
    assert transfer["mode"] == "presigned"
    assert transfer["chunkSizeBytes"] == 5 * MIB and transfer["partCount"] == 3
    ranges = [(p["partNumber"], p["start"], p["end"]) for p in transfer["parts"]]
    last = (3, 10 * MIB, len(ARCHIVE) - 1)
    assert ranges == [(1, 0, 5 * MIB - 1), (2, 5 * MIB, 10 * MIB - 1), last]
    assert transfer["nextFrom"] is None and transfer["storedParts"] == []

    parts = send_parts(transfer, ARCHIVE)
    state = staged.get(transfer).json()
    assert state["receivedBytes"] == len(ARCHIVE) and state["status"] == "open"
    assert [p["partNumber"] for p in state["storedParts"]] == [1, 2, 3]

    resp = complete(api, transfer, {"parts": parts})
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "ready"
    key = Run.objects.get(pk=run["id"]).archive_file
    stored = on_s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(ARCHIVE).digest()
    assert open_uploads(on_s3) == []
    after = staged.get(transfer).json()
    assert after["status"] == "completed" and after["parts"] == []


def test_bad_part_lists_are_refused_and_the_parts_stay(on_s3, api):
    staged = Staged(api)
    transfer = staged.create(staged.run(ARCHIVE)["id"])
    parts = send_parts(transfer, ARCHIVE, skip={3})

    resp = complete(api, transfer, {"parts": parts})
    assert resp.status_code == 409 and error_of(resp)["code"] == "transfer_incomplete"
    assert error_of(resp)["details"]["missingParts"] == [3]
    state = staged.get(transfer).json()
    assert [p["partNumber"] for p in state["storedParts"]] == [1, 2]
    assert state["receivedBytes"] == 10 * MIB

    parts += send_parts(transfer, ARCHIVE, skip={1, 2})
    good = parts
    bad_bodies = [
        {},  # no part list
        {"parts": "all"},
        {"parts": [{**good[0], "etag": '"0123"'}, *good[1:]]},  # wrong ETag
        {"parts": [good[0], good[0], good[2]]},  # a part twice
        {"parts": [good[1], good[0], good[2]]},  # out of order
        {"parts": good[:2]},  # not every part
        {"parts": [{**good[0], "partNumber": "1"}, *good[1:]]},  # not an integer
        {"parts": [{**good[0], "partNumber": 1.5}, *good[1:]]},
        {"parts": [{**good[0], "partNumber": 0}, *good[1:]]},
        {"parts": [{**good[0], "etag": ""}, *good[1:]]},
        {"parts": [{"partNumber": n, "etag": '"x"'} for n in range(1, 10_002)]},  # too many
    ]
    for body in bad_bodies:
        resp = complete(api, transfer, body)
        assert resp.status_code == 400, (body if len(str(body)) < 300 else "huge", resp.content)
        assert error_of(resp)["code"] == "invalid_request"
    assert error_of(complete(api, transfer, bad_bodies[2]))["details"]["parts"].keys() == {"1"}
    assert staged.get(transfer).json()["status"] == "open"
    assert len(staged.get(transfer).json()["storedParts"]) == 3

    # A chunk sent to the server instead is refused: the bytes belong in the bucket.
    assert staged.put(transfer, ARCHIVE, 0).status_code == 400
    resp = complete(api, transfer, {"parts": good})
    assert resp.status_code == 200, resp.content


def test_a_wrong_digest_fails_the_transfer_and_deletes_the_object(on_s3, api):
    staged = Staged(api)
    run = staged.run(ARCHIVE, sha256="f" * 64)
    transfer = staged.create(run["id"])
    parts = send_parts(transfer, ARCHIVE)
    key = Transfer.objects.get(pk=transfer["id"]).temp_name
    resp = complete(api, transfer, {"parts": parts})
    assert resp.status_code == 422 and error_of(resp)["code"] == "archive_digest_mismatch"
    assert Run.objects.get(pk=run["id"]).status == "awaiting_archive"
    assert on_s3.list_objects_v2(Bucket=BUCKET, Prefix=key).get("KeyCount") == 0
    assert open_uploads(on_s3) == []
    assert staged.get(transfer).json()["status"] == "failed"
    # The run still takes a new transfer.
    assert staged.create(run["id"])["mode"] == "presigned"


def test_part_urls_come_in_pages(on_s3, api, other_api, settings):
    settings.CROWNEST_PRESIGNED_PAGE = 2
    staged = Staged(api)
    transfer = staged.create(staged.run(ARCHIVE)["id"])
    assert [p["partNumber"] for p in transfer["parts"]] == [1, 2]
    assert transfer["nextFrom"] == 3
    url = f"/api/v1/transfers/{transfer['id']}/parts"
    page = api.get(url, {"from": 3}).json()
    assert [p["partNumber"] for p in page["parts"]] == [3] and page["nextFrom"] is None
    assert put_part(page["parts"][0], ARCHIVE).status_code == 200
    assert [p["partNumber"] for p in api.get(url).json()["storedParts"]] == [3]
    for bad in ("4", "0", "x", "1.0", ""):
        resp = api.get(url, {"from": bad})
        assert resp.status_code == 400 and error_of(resp)["code"] == "invalid_request", bad
    # Another user sees neither the parts nor the transfer.
    assert other_api.get(url).status_code == 404
    assert other_api.get(f"/api/v1/transfers/{transfer['id']}").status_code == 404


def test_urls_are_signed_for_the_public_endpoint(on_s3, api, settings, moto):
    public = moto.replace("127.0.0.1", "localhost")
    settings.CROWNEST_S3_PUBLIC_ENDPOINT_URL = public
    staged = Staged(api)
    transfer = staged.create(staged.run(ARCHIVE)["id"])
    assert all(p["url"].startswith(public + "/") for p in transfer["parts"])
    parts = send_parts(transfer, ARCHIVE)
    assert complete(api, transfer, {"parts": parts}).status_code == 200


def test_chunked_when_asked_or_without_object_storage(api, settings):
    staged = Staged(api)
    local = staged.create(staged.run(ARCHIVE)["id"])
    assert local["mode"] == "chunked" and "parts" not in local
    resp = api.post(
        f"/api/v1/workspace-runs/{staged.run(ARCHIVE)['id']}/transfers",
        {"mode": "fast"},
        format="json",
    )
    assert resp.status_code == 400 and error_of(resp)["code"] == "invalid_request"


def test_a_client_may_keep_off_object_storage(on_s3, api, settings):
    staged = Staged(api)
    transfer = staged.create(staged.run(ARCHIVE)["id"], mode="chunked")
    assert transfer["mode"] == "chunked"
    staged.send_all(transfer, ARCHIVE)
    assert staged.complete(transfer).status_code == 200
    settings.CROWNEST_TRANSFER_PRESIGNED = False  # and an operator may keep everyone off
    assert staged.create(staged.run(ARCHIVE)["id"], mode="presigned")["mode"] == "chunked"


def test_an_expired_presigned_transfer_loses_its_parts(on_s3, api):
    staged = Staged(api)
    transfer = staged.create(staged.run(ARCHIVE)["id"])
    send_parts(transfer, ARCHIVE, skip={2, 3})
    upload_id = Transfer.objects.get(pk=transfer["id"]).s3_upload_id

    def still_open() -> bool:
        return upload_id in {u["UploadId"] for u in open_uploads(on_s3)}

    assert still_open()
    Transfer.objects.filter(pk=transfer["id"]).update(expires_at=timezone.now())
    assert staged.get(transfer).json()["status"] == "expired"
    assert transfer_sweep() == {"expired": 1, "discarded": 1}
    assert not still_open()
    # The URL names an upload that is gone (S3: 404 NoSuchUpload; moto answers 500).
    assert put_part(transfer["parts"][1], ARCHIVE).status_code >= 400


def test_the_new_run_page_may_connect_to_the_bucket(on_s3, client, user, settings, moto):
    settings.CROWNEST_S3_BUCKET = BUCKET
    client.force_login(user)
    policy = client.get("/runs/new")["Content-Security-Policy"]
    assert f"connect-src 'self' {moto};" in policy
    assert "connect-src 'self';" in client.get("/")["Content-Security-Policy"]
    settings.CROWNEST_TRANSFER_PRESIGNED = False
    assert "connect-src 'self';" in client.get("/runs/new")["Content-Security-Policy"]
