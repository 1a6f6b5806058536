"""Schemathesis against the live stack: the served schema (/api/v1/schema/) and the server agree
on every operation and response, with every check, a fixed seed and a bounded number of cases.

Real ids are made first through the API (an ended run with an artifact and evidence, runs still
awaiting their archive, an open transfer) and handed to schemathesis as parameters, so that the
fuzzer reaches past 404 into each operation's real answers."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from runs.models import Membership, Team

from .helpers import archive_meta, make_targz, wait_until

ST = str(Path(sys.executable).parent / "st")
SEED = 20261128


class Api:
    def __init__(self, base_url: str, token: str):
        self.http = httpx.Client(
            base_url=f"{base_url}/api/v1", headers={"Authorization": f"Bearer {token}"}
        )

    def call(self, method: str, path: str, expect: int, **kw) -> dict:
        resp = self.http.request(method, path, **kw)
        assert resp.status_code == expect, (method, path, resp.status_code, resp.text)
        return resp.json() if resp.content else {}

    def run(self, data: bytes, **fields) -> dict:
        body = {"template": "python-node", "command": "true", "archive": archive_meta(data)}
        return self.call("POST", "/workspace-runs", 201, json={**body, **fields})

    def ended_run(self) -> dict:
        data = make_targz({"out.txt": "hello\n"})
        run = self.run(data, artifactPaths=["out.txt"], team="qa")
        headers = {"Content-Type": "application/gzip"}
        self.call("PUT", f"/workspace-runs/{run['id']}/archive", 200, content=data, headers=headers)
        self.call("POST", f"/workspace-runs/{run['id']}/start", 202)

        def evidence():
            got = self.call("GET", f"/workspace-runs/{run['id']}", 200)
            return got if got["evidenceAvailable"] else None

        return wait_until(evidence, timeout=120, message=f"run {run['id']} did not end")


@pytest.fixture
def lead(django_user_model):
    user = django_user_model.objects.create_user(username="fuzz-lead")
    team = Team.objects.create(slug="qa", name="QA")
    Membership.objects.create(team=team, user=user, role="lead")
    return user


def config_toml(ids: dict) -> str:
    """Which id each operation gets: the ended run where output, artifacts and evidence live,
    a fresh run for the upload and transfer calls."""
    lines = [f"seed = {SEED}", "", "[parameters]"]
    lines += [f'"path.{name}" = "{value}"' for name, value in ids["default"].items()]
    for op, params in ids["operations"].items():
        lines += ["", "[[operations]]", f'include-operation-id = "{op}"', "[operations.parameters]"]
        lines += [f'"path.{name}" = "{value}"' for name, value in params.items()]
    return "\n".join(lines) + "\n"


def test_schemathesis_finds_nothing(stack, lead, tmp_path):
    api = Api(stack.base_url, stack.token(lead))
    ended = api.ended_run()
    [artifact_id] = ended["artifactIds"]
    data = make_targz({"x.txt": "x"})
    upload_run = api.run(data, team="qa")
    transfer_run = api.run(data, team="qa")
    transfer = api.call("POST", f"/workspace-runs/{transfer_run['id']}/transfers", 201)
    ids = {
        "default": {
            "run_id": ended["id"],
            "artifact_id": artifact_id,
            "transfer_id": transfer["id"],
        },
        "operations": {
            "uploadArchive": {"run_id": upload_run["id"]},
            "createTransfer": {"run_id": transfer_run["id"]},
        },
    }
    config = tmp_path / "schemathesis.toml"
    config.write_text(config_toml(ids))
    report = tmp_path / "report"
    argv = [ST, "--config-file", str(config), "run", f"{stack.base_url}/api/v1/schema/"]
    argv += ["--checks", "all", "--max-examples", os.environ.get("CROWNEST_FUZZ_EXAMPLES", "20")]
    argv += ["-H", f"Authorization: Bearer {stack.token(lead)}", "--workers", "2"]
    argv += ["--no-color", "--report", "junit", "--report-dir", str(report)]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    out = res.stdout + res.stderr
    if os.environ.get("CROWNEST_FUZZ_LOG"):
        Path(os.environ["CROWNEST_FUZZ_LOG"]).write_text(out)
    assert res.returncode == 0, out[-20000:]
