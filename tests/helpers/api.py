"""Driving runs, transfers and artifacts through the public API, as a client does."""

import hashlib

from django.db import transaction
from rest_framework.test import APIClient

from runs.tokens import token_issue

from .archives import archive_meta, make_targz
from .waiting import wait_until


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user)}")
    return client


def error_of(resp) -> dict:
    """The error envelope of an API answer, checked to be exactly {code, message, details}."""
    body = resp.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]


TERMINAL = ("succeeded", "failed", "canceled")


class Runs:
    """Drives runs through the public API the way a client does."""

    def __init__(self, api: APIClient):
        self.api = api

    def create(self, data: bytes, command="true", **fields) -> dict:
        """A run awaiting its archive, to upload into: reuse is off unless `reuseArchive=True`
        (tests/test_reuse.py covers reuse; here the same bytes are uploaded run after run)."""
        body = {"template": "python-node", "command": command, "archive": archive_meta(data)}
        body["reuseArchive"] = False
        body.update(fields)
        resp = self.api.post("/api/v1/workspace-runs", body, format="json")
        assert resp.status_code == 201, resp.content
        return resp.json()

    def upload(self, run_id: str, data: bytes):
        return self.api.put(
            f"/api/v1/workspace-runs/{run_id}/archive", data, content_type="application/gzip"
        )

    def start(self, run_id: str):
        return self.api.post(f"/api/v1/workspace-runs/{run_id}/start")

    def cancel(self, run_id: str):
        return self.api.post(f"/api/v1/workspace-runs/{run_id}/cancel")

    def get(self, run_id: str) -> dict:
        return self.api.get(f"/api/v1/workspace-runs/{run_id}").json()

    def submit(self, files: dict, command="true", **fields) -> dict:
        data = make_targz(files)
        run = self.create(data, command, **fields)
        assert self.upload(run["id"], data).status_code == 200
        resp = self.start(run["id"])
        assert resp.status_code == 202, resp.content
        return resp.json()

    def wait(self, run_id: str, timeout=90, until=None) -> dict:
        """The run once `until(run)` holds (by default: once it has ended)."""
        done = until or (lambda run: run["status"] in TERMINAL)

        def check():
            run = self.get(run_id)
            return run if done(run) else None

        return wait_until(
            check,
            timeout=timeout,
            message=lambda: f"run {run_id} still {self.get(run_id)['status']}",
        )

    def wait_evidence(self, run_id: str, timeout=30) -> dict:
        def bundle():
            resp = self.api.get(f"/api/v1/workspace-runs/{run_id}/evidence")
            return resp.json() if resp.status_code == 200 else None

        return wait_until(bundle, timeout=timeout, message=f"no evidence for {run_id}")

    def events(self, run_id: str) -> list[dict]:
        out, after = [], 0
        while True:
            page = self.api.get(
                f"/api/v1/workspace-runs/{run_id}/events", {"afterSeq": after, "limit": 1000}
            ).json()
            out += page["events"]
            after = page["nextAfterSeq"]
            if not page["hasMore"]:
                return out

    def output(self, run_id: str, stream="stdout") -> str:
        return "".join(e["data"]["text"] for e in self.events(run_id) if e["type"] == stream)


class Staged:
    """A client of the staged-transfer endpoints."""

    def __init__(self, api: APIClient):
        self.api = api

    def run(self, data: bytes, command="true", **archive) -> dict:
        body = {
            "template": "python-node",
            "command": command,
            "archive": {**archive_meta(data), **archive},
            "reuseArchive": False,  # these tests upload the same bytes run after run
        }
        resp = self.api.post("/api/v1/workspace-runs", body, format="json")
        assert resp.status_code == 201, resp.content
        return resp.json()

    def create(self, run_id: str, mode: str | None = None) -> dict:
        body = {"mode": mode} if mode else None
        resp = self.api.post(f"/api/v1/workspace-runs/{run_id}/transfers", body, format="json")
        assert resp.status_code == 201, resp.content
        return resp.json()

    def put(self, transfer: dict, data: bytes, start: int, header: str | None = None, **extra):
        piece = data[start : start + transfer["chunkSizeBytes"]]
        if header is None:
            header = f"bytes {start}-{start + len(piece) - 1}/{len(data)}"
        return self.api.generic(
            "PUT",
            transfer["uploadUrl"],
            extra.pop("body", piece),
            content_type="application/octet-stream",
            HTTP_CONTENT_RANGE=header,
            **extra,
        )

    def send_all(self, transfer: dict, data: bytes, start: int = 0) -> dict:
        for offset in range(start, len(data), transfer["chunkSizeBytes"]):
            resp = self.put(transfer, data, offset)
            assert resp.status_code == 200, resp.content
        return resp.json()

    def get(self, transfer: dict):
        return self.api.get(f"/api/v1/transfers/{transfer['id']}")

    def complete(self, transfer: dict):
        return self.api.post(f"/api/v1/transfers/{transfer['id']}/complete")

    def delete(self, transfer: dict):
        return self.api.delete(f"/api/v1/transfers/{transfer['id']}")


def to_queue(queue: str):
    """Stands in for execute_run.delay_on_commit, sending the task to a private worker."""
    from runs import tasks

    def send(run_id):
        transaction.on_commit(lambda: tasks.execute_run.apply_async((run_id,), queue=queue))

    return send


def stored_artifact(run_id: str, path: str, body: bytes, content_type: str = "text/plain"):
    """An artifact of the run whose bytes are in the default storage (local or S3)."""
    from django.core.files.base import ContentFile

    from runs.blobs import storage
    from runs.models import Artifact

    name = storage().save(f"artifacts/{run_id}/{path.replace('/', '_')}", ContentFile(body))
    return Artifact.objects.create(
        run_id=run_id,
        path=path,
        size_bytes=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        content_type=content_type,
        file=name,
    )
