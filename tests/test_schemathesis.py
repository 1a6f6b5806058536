"""Schemathesis against the live stack: the served schema (/api/v1/schema/) and the server agree
on every operation and response, with every check, a fixed seed and a bounded number of cases.

Real ids are made first through the API (an ended run with an artifact, evidence and a review;
runs still awaiting their archive; an open transfer) and handed to schemathesis as parameters,
so that the fuzzer reaches past 404 into each operation's real answers. A second user (not in
the team) is the peer for the object-level authorization check: they must see none of it.

CROWNEST_FUZZ_EXAMPLES changes the number of cases per operation (default 15), and
CROWNEST_FUZZ_LOG names a file that receives schemathesis's whole report."""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from runs.models import Membership, Team

from .helpers import ROOT, archive_meta, make_targz, wait_until

pytestmark = pytest.mark.docker  # the live stack: daphne, a worker, real runs

ST = str(Path(sys.executable).parent / "st")
SEED = 20261128

# A schema-valid request that the server still refuses for a reason no JSON Schema can state:
# archive bytes that are not the declared archive, a Content-Range that does not continue at
# receivedBytes. These operations may answer those documented errors to positive cases too.
SEMANTIC_REFUSALS = {
    "uploadArchive": ["413", "415", "422"],
    "putTransferChunk": ["400"],
    "completeTransfer": ["415", "422"],
}
# schemathesis' defaults, less 5xx (no request may make the server fail); 413 is a refusal too.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429"]
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]


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

    def ended_run(self, reviewer: "Api") -> dict:
        """An ended team run of this caller, reviewed by `reviewer` (nobody reviews their own)."""
        data = make_targz({"out.txt": "hello\n"})
        run = self.run(data, command="cat out.txt", artifactPaths=["out.txt"], team="qa")
        headers = {"Content-Type": "application/gzip"}
        self.call("PUT", f"/workspace-runs/{run['id']}/archive", 200, content=data, headers=headers)
        self.call("POST", f"/workspace-runs/{run['id']}/start", 202)

        def evidence():
            got = self.call("GET", f"/workspace-runs/{run['id']}", 200)
            return got if got["evidenceAvailable"] else None

        run = wait_until(evidence, timeout=120, message=f"run {run['id']} did not end")
        review = {"verdict": "approve", "comment": "looks right"}
        reviewer.call("POST", f"/workspace-runs/{run['id']}/reviews", 201, json=review)
        return run


@pytest.fixture
def lead(django_user_model):
    user = django_user_model.objects.create_user(username="fuzz-lead")
    team = Team.objects.create(slug="qa", name="QA")
    Membership.objects.create(team=team, user=user, role="lead")
    return user


def toml_value(value) -> str:
    return json.dumps(value)  # JSON strings, numbers, lists and booleans are TOML too


def operation(op: str, *, parameters=None, **settings) -> list[str]:
    lines = ["", "[[operations]]", f"include-operation-id = {toml_value(op)}"]
    lines += [f"{key} = {toml_value(value)}" for key, value in settings.items()]
    accepted = ACCEPTED + SEMANTIC_REFUSALS.get(op, [])
    lines += ["[operations.checks.positive_data_acceptance]"]
    lines += [f"expected-statuses = {toml_value(accepted)}"]
    if parameters:
        lines += ["[operations.parameters]"]
        lines += [f"{toml_value(k)} = {toml_value(v)}" for k, v in parameters.items()]
    return lines


def config_toml(ids: dict, auth_file: Path) -> str:
    """Which ids each operation gets: the ended run (output, artifacts, evidence, reviews) by
    default, fresh runs for the upload and transfer calls."""
    lines = [f"seed = {SEED}", 'hooks = "tests.schemathesis_hooks"', "request-timeout = 30"]
    # No cache: a run replays nothing from earlier ones (and writes nothing into the repo).
    lines += ["", "[cache]", "enabled = false"]
    lines += ["", "[auth.wfc]", f"path = {toml_value(str(auth_file))}", 'user = "lead"']
    lines += ['peers = ["lead", "outsider"]']
    lines += ["", "[checks.negative_data_rejection]", f"expected-statuses = {toml_value(REJECTED)}"]
    lines += ["", "[parameters]"]
    lines += [f'"path.{name}" = {toml_value(value)}' for name, value in ids["default"].items()]
    ops = {op: {} for op in SEMANTIC_REFUSALS}
    ops.update(ids["operations"])
    for op, params in ops.items():
        lines += operation(op, parameters={f"path.{k}": v for k, v in params.items()})
    # The fuzzer's runs use a real template and the lead's team.
    lines += operation("createRun", parameters={"body.template": "python-node", "body.team": "qa"})
    # A live stream never ends by itself: read what arrives in two seconds, then move on.
    lines += operation("streamEvents", **{"request-timeout": 2, "max-stream-events": 50})
    return "\n".join(lines) + "\n"


def auth_file(path: Path, tokens: dict) -> Path:
    entries = [
        {"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {token}"}]}
        for name, token in tokens.items()
    ]
    path.write_text(json.dumps({"auth": entries}))
    return path


def test_schemathesis_finds_nothing(stack, lead, django_user_model, tmp_path):
    outsider = django_user_model.objects.create_user(username="fuzz-outsider")
    member = django_user_model.objects.create_user(username="fuzz-member")
    Membership.objects.create(team=Team.objects.get(slug="qa"), user=member)
    api = Api(stack.base_url, stack.token(lead))
    ended = Api(stack.base_url, stack.token(member)).ended_run(reviewer=api)
    [artifact_id] = ended["artifactIds"]
    data = make_targz({"x.txt": "x"})
    upload_run, transfer_run, abort_run = (api.run(data, team="qa") for _ in range(3))
    transfer = api.call("POST", f"/workspace-runs/{transfer_run['id']}/transfers", 201)
    doomed = api.call("POST", f"/workspace-runs/{abort_run['id']}/transfers", 201)
    ids = {
        "default": {
            "run_id": ended["id"],
            "artifact_id": artifact_id,
            "transfer_id": transfer["id"],
        },
        "operations": {
            "uploadArchive": {"run_id": upload_run["id"]},
            "createTransfer": {"run_id": transfer_run["id"]},
            # Aborted, a transfer is gone: the others keep theirs.
            "abortTransfer": {"transfer_id": doomed["id"]},
        },
    }
    tokens = {"lead": stack.token(lead), "outsider": stack.token(outsider)}
    config = tmp_path / "schemathesis.toml"
    config.write_text(config_toml(ids, auth_file(tmp_path / "auth.json", tokens)))
    examples = os.environ.get("CROWNEST_FUZZ_EXAMPLES", "15")
    argv = [ST, "--config-file", str(config), "run", f"{stack.base_url}/api/v1/schema/"]
    argv += ["--checks", "all", "--max-examples", examples, "--workers", "1", "--no-color"]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=ROOT)
    out = res.stdout + res.stderr
    if os.environ.get("CROWNEST_FUZZ_LOG"):
        Path(os.environ["CROWNEST_FUZZ_LOG"]).write_text(out)
    assert res.returncode == 0, out[-20000:]
