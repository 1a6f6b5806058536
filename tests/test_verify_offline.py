"""`crownest evidence verify` and crownest_client.verify without a server: a folder signed here
with a fresh P-256 key exactly as docs/evidence.md specifies verifies; every tampering is
refused with a message that names it. No database, no network (the run-id path and `--out`
are driven through httpx.MockTransport)."""

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import jcs
import pytest
from crownest_client import cli_common
from crownest_client.cli import app
from crownest_client.client import Client
from crownest_client.errors import EvidenceDigestMismatch
from crownest_client.oneshot import follow, save_evidence
from crownest_client.verify import CHECKS, keyid_of, verify_folder
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

IMAGE_ID = "cd" * 32
LOG_CHANGED = "events.ndjson: sha256 differs from the signed subject"
ARTIFACTS = {"dist/a.js": b"console.log('hej');\n", "reports/junit.xml": b"<testsuite/>\n"}


def canonical(obj, legacy=False) -> bytes:
    """RFC 8785 by `jcs`, an implementation the client does not use; `legacy`: the sorted-keys
    JSON of bundles written before JCS."""
    if legacy:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return jcs.canonicalize(obj)


def event_line(event: dict, legacy=False) -> bytes:
    # JCS, then \n; before JCS: {"seq","type","timestamp","data"} in that order, no spaces
    if not legacy:
        return canonical(event) + b"\n"
    ordered = {k: event[k] for k in ("seq", "type", "timestamp", "data")}
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pem_of(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def keyid(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def key_entry(key, retired_at=None) -> dict:
    return {
        "keyid": keyid(key),
        "algorithm": "ecdsa-p256-sha256",
        "publicKeyPem": pem_of(key),
        "createdAt": "2025-01-01T00:00:00Z",
        "retiredAt": retired_at,
    }


def make_events(run_id, status, exit_code, failure_reason) -> list[dict]:
    t = "2025-06-01T12:00:0{}Z"
    return [
        {"seq": 1, "type": "status", "timestamp": t.format(0), "data": {"status": "queued"}},
        {"seq": 2, "type": "status", "timestamp": t.format(1), "data": {"status": "running"}},
        {"seq": 3, "type": "stdout", "timestamp": t.format(2), "data": {"text": "building… ✓\n"}},
        {"seq": 4, "type": "stderr", "timestamp": t.format(3), "data": {"text": "warn\n"}},
        {"seq": 5, "type": "artifact_collected", "timestamp": t.format(4), "data": {"n": 2}},
        {
            "seq": 6,
            "type": "terminal",
            "timestamp": t.format(5),
            "data": {
                "runId": run_id,
                "status": status,
                "exitCode": exit_code,
                "failureReason": failure_reason,
                "durationSeconds": 5.0,
            },
        },
    ]


def make_statement(run_id, bundle, artifacts) -> dict:
    outcome = {
        "runId": run_id,
        "status": bundle["status"],
        "exitCode": bundle["exitCode"],
        "failureReason": bundle["failureReason"],
        "lastSeq": bundle["events"]["lastSeq"],
    }
    subjects = [{"name": a["path"], "digest": {"sha256": a["sha256"]}} for a in artifacts]
    subjects.append({"name": "events.ndjson", "digest": {"sha256": bundle["events"]["sha256"]}})
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subjects,
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://crownest.dev/workspace-run/v1",
                "externalParameters": {
                    "command": bundle["command"],
                    "template": "python-node",
                    "artifactPaths": ["dist/", "reports/*.xml"],
                    "timeoutSeconds": 600,
                    "envKeys": ["CI"],
                },
                "internalParameters": {"limits": {"memory": "1g", "cpus": 1.0}, "network": False},
                "resolvedDependencies": [
                    {"name": "repo.tgz", "digest": {"sha256": "ab" * 32}},
                    {
                        "uri": "docker-image://crownest/python-node:1",
                        "digest": {"sha256": IMAGE_ID},
                    },
                ],
            },
            "runDetails": {
                "builder": {"id": "https://crownest.test/builder"},
                "metadata": {
                    "invocationId": run_id,
                    "startedOn": "2025-06-01T12:00:01Z",
                    "finishedOn": "2025-06-01T12:00:05Z",
                },
                "byproducts": [
                    {"name": "outcome", "mediaType": "application/json", "annotations": outcome}
                ],
            },
        },
    }


def sign(statement: dict, key, legacy=False) -> dict:
    payload = canonical(statement, legacy)
    kind = b"application/vnd.in-toto+json"
    pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)
    return {
        "payloadType": kind.decode(),
        "payload": base64.b64encode(payload).decode(),
        "signatures": [
            {
                "keyid": keyid(key),
                "sig": base64.b64encode(key.sign(pae, ec.ECDSA(hashes.SHA256()))).decode(),
            }
        ],
    }


def build_folder(
    folder: Path,
    *,
    signing_key,
    trusted: list[dict],
    run_id="wr_A",
    status="succeeded",
    exit_code=0,
    failure_reason=None,
    drop_seq=None,
    legacy=False,
) -> Path:
    """A complete, correct evidence folder, as `crownest run-archive --out` saves it; `legacy`:
    as a bundle written before JCS was (no `canonicalization`)."""
    folder.mkdir(parents=True, exist_ok=True)
    events = make_events(run_id, status, exit_code, failure_reason)
    events = [e for e in events if e["seq"] != drop_seq]
    log = b"".join(event_line(e, legacy) for e in events)
    artifacts = []
    for i, (path, data) in enumerate(ARTIFACTS.items()):
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        artifacts.append({"id": f"ar_{i}", "path": path, "sizeBytes": len(data), "sha256": sha})
    bundle = {
        "schema": "crownest.evidence/v1",
        **({} if legacy else {"canonicalization": "RFC8785"}),
        "runId": run_id,
        "status": status,
        "exitCode": exit_code,
        "failureReason": failure_reason,
        "command": "npm ci && npm test",
        "artifacts": artifacts,
        "artifactIds": [a["id"] for a in artifacts],
        "events": {
            "count": len(events),
            "lastSeq": events[-1]["seq"],
            "sha256": hashlib.sha256(log).hexdigest(),
        },
        "terminalEvent": events[-1],
        "sandbox": {"kept": False},
    }
    envelope = sign(make_statement(run_id, bundle, artifacts), signing_key, legacy)
    envelope = json.dumps(envelope).encode() if legacy else canonical(envelope)
    bundle["attestation"] = {
        "url": f"/api/v1/workspace-runs/{run_id}/evidence/attestation",
        "sigstoreBundleUrl": f"/api/v1/workspace-runs/{run_id}/evidence/sigstore-bundle",
        "keyid": keyid(signing_key),
        "sha256": hashlib.sha256(envelope).hexdigest(),
    }
    (folder / "evidence.json").write_text(json.dumps(bundle, indent=2) + "\n")
    (folder / "attestation.dsse.json").write_bytes(envelope)
    (folder / "events.ndjson").write_bytes(log)
    (folder / "evidence-keys.json").write_text(json.dumps(trusted, indent=2) + "\n")
    return folder


@pytest.fixture(scope="module")
def service_key():
    return new_key()


@pytest.fixture
def good(tmp_path, service_key):
    return build_folder(tmp_path / "A", signing_key=service_key, trusted=[key_entry(service_key)])


def cli(*args):
    return CliRunner().invoke(app, ["evidence", "verify", *map(str, args)])


def edit_json(path: Path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2) + "\n")


def edit_lines(folder: Path, change):
    path = folder / "events.ndjson"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(change(lines)))


def refused(folder: Path, check: str, message: str, **kw):
    verdict = verify_folder(folder, **kw)
    assert not verdict.ok
    assert verdict.failure.check == check, verdict.failure
    assert verdict.failure.message == message
    done = CHECKS.index(check) if check in CHECKS else 0  # "inputs" comes before step 1
    assert verdict.checks == list(CHECKS[:done])  # stopped there
    res = cli(folder, *(["--key", kw["key_file"]] if "key_file" in kw else []))
    assert res.exit_code == 1, res.output
    assert f"NOT VERIFIED: {check}: {message}" in res.stdout
    return verdict


# the good folder


def test_good_folder_verifies(good, service_key):
    verdict = verify_folder(good)
    assert verdict.ok, verdict.failure
    assert verdict.checks == list(CHECKS) and verdict.failure is None
    assert verdict.run_id == "wr_A" and verdict.keyid == keyid(service_key)
    assert verdict.notes == []
    assert verdict.details["artifacts"] == "2 checked"


def test_good_folder_verifies_through_the_cli(good, monkeypatch):
    # offline means offline: no configured service is needed, none is contacted
    monkeypatch.setenv("CROWNEST_CONFIG", str(good / "no-config.json"))
    monkeypatch.delenv("CROWNEST_URL", raising=False)
    monkeypatch.delenv("CROWNEST_TOKEN", raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("an offline check touched the network")

    monkeypatch.setattr(cli_common, "client_from_config", no_network)
    monkeypatch.setattr(httpx.Client, "send", no_network)
    res = cli(good)
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[-1] == "VERIFIED: every check holds"
    assert all(f"  ok    {check}" in res.stdout for check in CHECKS)
    res = cli(good, "--json")
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    assert out["ok"] is True and out["checks"] == list(CHECKS) and out["failure"] is None


def test_the_installed_command(good):
    cli_path = Path(sys.executable).parent / "crownest"  # the console script, crownest_client.cli
    res = subprocess.run([cli_path, "evidence", "verify", good], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.endswith("VERIFIED: every check holds\n"), res
    edit_json(good / "evidence.json", lambda b: b.update(exitCode=1))
    res = subprocess.run([cli_path, "evidence", "verify", good], capture_output=True, text=True)
    assert res.returncode == 1
    assert res.stdout.endswith(
        "NOT VERIFIED: outcome: bundle exitCode 1 differs from the signed outcome 0\n"
    )


def test_pinned_pem_key(good, service_key, tmp_path):
    (good / "evidence-keys.json").unlink()
    pem = tmp_path / "service.pem"
    pem.write_text(pem_of(service_key))
    assert verify_folder(good, key_file=pem).ok
    assert cli(good, "--key", pem).exit_code == 0
    other = tmp_path / "other.pem"
    other.write_text(pem_of(new_key()))
    refused(good, "signature", f"signed by an unknown key {keyid(service_key)}", key_file=other)


def test_keyid_is_the_sha256_of_the_der_spki(service_key):
    assert keyid_of(service_key.public_key()) == keyid(service_key)


def test_missing_inputs_are_named(good):
    (good / "attestation.dsse.json").unlink()
    refused(good, "inputs", f"attestation.dsse.json: missing from {good}")


def test_missing_artifact_is_noted_not_failed(good):
    (good / "reports" / "junit.xml").unlink()
    verdict = verify_folder(good)
    assert verdict.ok
    assert verdict.notes == ["artifact reports/junit.xml not downloaded, not checked"]
    assert "note: artifact reports/junit.xml not downloaded, not checked" in cli(good).stdout


# tampering


def test_flipped_byte_in_an_artifact(good):
    path = good / "dist" / "a.js"
    data = bytearray(path.read_bytes())
    data[3] ^= 0x01
    path.write_bytes(bytes(data))
    refused(good, "artifacts", "artifact dist/a.js: sha256 differs from the signed subject")


def test_event_removed(good):
    edit_lines(good, lambda lines: lines[:2] + lines[3:])  # drop seq 3
    refused(good, "events", f"{LOG_CHANGED}; seq 4 follows seq 2 (gap)")


def test_events_reordered(good):
    edit_lines(good, lambda lines: [lines[0], lines[2], lines[1], *lines[3:]])
    refused(good, "events", f"{LOG_CHANGED}; seq 3 follows seq 1 (out of order)")


def test_event_text_edited(good):
    edit_lines(good, lambda lines: [line.replace(b"warn", b"fine") for line in lines])
    refused(good, "events", LOG_CHANGED)


def test_terminal_event_removed(good):
    edit_lines(good, lambda lines: lines[:-1])
    refused(good, "events", f"{LOG_CHANGED}; no terminal event")


def test_a_signed_log_with_a_gap_is_still_refused(tmp_path, service_key):
    # the server itself signed a broken log: the digest holds, the shape does not
    folder = build_folder(
        tmp_path / "G", signing_key=service_key, trusted=[key_entry(service_key)], drop_seq=2
    )
    refused(folder, "events", "events.ndjson: seq 3 follows seq 1 (gap)")


def test_exit_code_edited_in_the_bundle(good):
    edit_json(good / "evidence.json", lambda b: b.update(exitCode=1))
    refused(good, "outcome", "bundle exitCode 1 differs from the signed outcome 0")


def test_one_number_written_two_ways_is_one_fact_but_zero_is_not_false(good):
    # The log's JCS line writes durationSeconds 5.0 as 5; the bundle as served writes 5.0.
    assert b'"durationSeconds":5,' in (good / "events.ndjson").read_bytes()
    assert '"durationSeconds": 5.0' in (good / "evidence.json").read_text()
    assert verify_folder(good).ok
    edit_json(good / "evidence.json", lambda b: b.update(exitCode=False))
    refused(good, "outcome", "bundle exitCode false differs from the signed outcome 0")


def test_a_folder_saved_before_jcs_still_verifies(tmp_path, service_key):
    """Bundles written before RFC 8785 keep their sorted-keys Statement and their log lines."""
    old = build_folder(
        tmp_path / "old", signing_key=service_key, trusted=[key_entry(service_key)], legacy=True
    )
    assert b'"durationSeconds":5.0' in (old / "events.ndjson").read_bytes()
    assert verify_folder(old).ok
    edit_lines(old, lambda lines: [lines[0].replace(b"queued", b"QUEUED"), *lines[1:]])
    refused(old, "events", LOG_CHANGED)


def test_status_edited_in_the_bundle(good):
    edit_json(good / "evidence.json", lambda b: b.update(status="failed"))
    refused(good, "outcome", "bundle status failed differs from the signed outcome succeeded")


def test_artifact_digest_edited_in_the_bundle(good):
    edit_json(good / "evidence.json", lambda b: b["artifacts"][0].update(sha256="0" * 64))
    refused(good, "subjects", "artifact dist/a.js: bundle sha256 differs from the signed subject")


def test_attestation_of_run_a_with_the_files_of_run_b(good, tmp_path, service_key):
    trusted = [key_entry(service_key)]
    b = build_folder(tmp_path / "B", signing_key=service_key, trusted=trusted, run_id="wr_B",
                     status="failed", exit_code=1, failure_reason="exit_code")  # fmt: skip
    assert verify_folder(b).ok
    shutil.copy(good / "attestation.dsse.json", b / "attestation.dsse.json")
    refused(b, "run", "attestation is for run wr_A but the bundle is run wr_B")


def test_signature_by_a_key_that_is_not_trusted(tmp_path, service_key):
    intruder = new_key()
    folder = build_folder(tmp_path / "X", signing_key=intruder, trusted=[key_entry(service_key)])
    refused(folder, "signature", f"signed by an unknown key {keyid(intruder)}")


def test_payload_edited_under_a_trusted_keyid(good, service_key):
    def change(env):
        statement = json.loads(base64.b64decode(env["payload"]))
        statement["predicate"]["runDetails"]["byproducts"][0]["annotations"]["exitCode"] = 1
        env["payload"] = base64.b64encode(canonical(statement)).decode()

    edit_json(good / "attestation.dsse.json", change)
    refused(good, "signature", f"signature does not verify with key {keyid(service_key)}")


def test_retired_key_still_verifies_and_is_reported(tmp_path, service_key):
    old = new_key()
    trusted = [key_entry(old, retired_at="2025-03-01T00:00:00Z"), key_entry(service_key)]
    folder = build_folder(tmp_path / "R", signing_key=old, trusted=trusted)
    verdict = verify_folder(folder)
    assert verdict.ok and verdict.keyid == keyid(old)
    assert verdict.notes == [
        f"signed by retired key {keyid(old)} (retired 2025-03-01T00:00:00Z); it still verifies"
    ]
    res = cli(folder)
    assert res.exit_code == 0 and f"signed by retired key {keyid(old)}" in res.stdout
    # the same signature with that key unlisted is refused
    edit_json(folder / "evidence-keys.json", lambda keys: keys.pop(0))
    refused(folder, "signature", f"signed by an unknown key {keyid(old)}")


def test_a_keys_list_that_lies_about_a_keyid_is_refused(good, service_key):
    edit_json(good / "evidence-keys.json", lambda keys: keys[0].update(keyid="00" * 32))
    verdict = verify_folder(good)
    assert verdict.failure.check == "inputs"
    assert verdict.failure.message == (
        f"evidence-keys.json: key 0 is listed as {'00' * 32} but its public key is"
        f" {keyid(service_key)}"
    )


# through the API (mocked): `evidence verify RUN_ID` and `--out`


def serve(folder: Path, *, attestation=True, gone=(), digest_of=None):
    """A MockTransport that answers the evidence endpoints from a folder; without `attestation`
    that route is unknown (Django's HTML 404), and the artifacts in `gone` were deleted;
    `digest_of={"bundle": …}` serves another X-Evidence-Sha256."""
    digest_of = digest_of or {}
    bundle = json.loads((folder / "evidence.json").read_text())
    run = bundle["runId"]
    events = (folder / "events.ndjson").read_bytes()
    sse = b"".join(b"data: " + line + b"\n" for line in events.splitlines(keepends=True))
    routes = {
        f"/api/v1/workspace-runs/{run}": {"id": run, "status": bundle["status"]},
        f"/api/v1/workspace-runs/{run}/evidence": bundle,
        f"/api/v1/workspace-runs/{run}/artifacts": bundle["artifacts"],
        f"/api/v1/workspace-runs/{run}/events.ndjson": events,
        f"/api/v1/workspace-runs/{run}/events/stream": sse.replace(b"\n", b"\n\n"),
        "/api/v1/evidence-keys": json.loads((folder / "evidence-keys.json").read_text()),
    }
    if attestation:
        routes[f"/api/v1/workspace-runs/{run}/evidence/attestation"] = (
            folder / "attestation.dsse.json"
        ).read_bytes()
    for a in bundle["artifacts"]:
        if a["path"] not in gone:
            routes[f"/api/v1/artifacts/{a['id']}/download"] = (folder / a["path"]).read_bytes()

    def handler(request: httpx.Request) -> httpx.Response:
        body = routes.get(request.url.path)
        if body is None and request.url.path.endswith("/attestation"):
            return httpx.Response(404, html="<h1>Not Found</h1>")
        if body is None:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})
        if isinstance(body, bytes):
            return httpx.Response(200, content=body)
        if body is bundle:  # the service's digest of the bundle: over its canonical bytes
            digest = hashlib.sha256(canonical(bundle, "canonicalization" not in bundle))
            headers = {"X-Evidence-Sha256": digest_of.get("bundle", digest.hexdigest())}
            return httpx.Response(200, json=body, headers=headers)
        return httpx.Response(200, json=body)

    return Client("http://crownest.test", "cn_test", transport=httpx.MockTransport(handler))


def test_verify_by_run_id_downloads_then_checks(good, monkeypatch):
    monkeypatch.setattr(cli_common, "client_from_config", lambda: serve(good))
    res = cli("wr_A")
    assert res.exit_code == 0, res.output
    assert "VERIFIED" in res.stdout and "trusted keys came from the service itself" in res.stdout


def test_verify_by_run_id_without_an_attestation(good, monkeypatch):
    monkeypatch.setattr(cli_common, "client_from_config", lambda: serve(good, attestation=False))
    res = cli("wr_A", "--json")
    assert res.exit_code == 1
    failure = json.loads(res.stdout)["failure"]
    assert failure["check"] == "inputs"
    assert failure["message"].startswith("attestation.dsse.json: missing from ")


def test_verify_by_run_id_with_a_deleted_artifact(good, monkeypatch):
    monkeypatch.setattr(cli_common, "client_from_config", lambda: serve(good, gone={"dist/a.js"}))
    res = cli("wr_A")
    assert res.exit_code == 0, res.output
    assert "note: artifact dist/a.js not downloaded, not checked" in res.stdout


def test_verify_by_run_id_of_an_unknown_run(good, monkeypatch):
    monkeypatch.setattr(cli_common, "client_from_config", lambda: serve(good))
    res = cli("wr_nope")
    assert res.exit_code == 69 and "404 not_found" in res.stderr


def test_the_served_evidence_digest_is_checked_against_the_canonical_bytes(good, tmp_path):
    bundle = json.loads((good / "evidence.json").read_text())
    want = hashlib.sha256(jcs.canonicalize(bundle)).hexdigest()
    with serve(good) as client:
        assert client.get_evidence("wr_A").sha256 == want
        assert follow(client, "wr_A").to_json()["evidenceSha256"] == want
    with serve(good, digest_of={"bundle": "00" * 32}) as client:
        with pytest.raises(EvidenceDigestMismatch, match=f"hash to {want}"):
            client.get_evidence("wr_A")
    # A bundle written before JCS: its digest is over the sorted-keys JSON, and still checked.
    old = build_folder(tmp_path / "old", signing_key=new_key(), trusted=[], legacy=True)
    legacy = json.loads((old / "evidence.json").read_text())
    with serve(old) as client:
        assert (
            client.get_evidence("wr_A").sha256
            == hashlib.sha256(canonical(legacy, legacy=True)).hexdigest()
        )


def test_a_reused_out_folder_keeps_no_stale_attestation(good, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(good, out)
    with serve(good, attestation=False) as client:
        saved = save_evidence(client, "wr_A", out)
    assert "attestation.dsse.json" not in saved and not (out / "attestation.dsse.json").exists()


def test_follow_with_out_saves_a_folder_that_verifies_offline(good, tmp_path):
    out = tmp_path / "out"
    with serve(good) as client:
        result = follow(client, "wr_A", out_dir=out)
    assert result.terminal["status"] == "succeeded" and len(result.artifact_files) == 2
    for name in ("evidence.json", "attestation.dsse.json", "events.ndjson", "evidence-keys.json"):
        assert (out / name).is_file(), name
    # the envelope and the log are kept byte for byte
    assert (out / "attestation.dsse.json").read_bytes() == (
        good / "attestation.dsse.json"
    ).read_bytes()
    assert (out / "events.ndjson").read_bytes() == (good / "events.ndjson").read_bytes()
    verdict = verify_folder(out)
    assert verdict.ok and verdict.notes == [], verdict


def test_save_evidence_with_artifacts(good, tmp_path):
    with serve(good) as client:
        saved = save_evidence(client, "wr_A", tmp_path / "dl", artifacts=True)
        assert (
            client.get_evidence_keys()[0]["keyid"]
            == json.loads((good / "evidence-keys.json").read_text())[0]["keyid"]
        )
        assert client.get_attestation("wr_A")["payloadType"] == "application/vnd.in-toto+json"
    assert set(saved) >= {"dist/a.js", "reports/junit.xml", "attestation.dsse.json"}
    assert verify_folder(tmp_path / "dl").ok


def test_not_a_directory_is_a_usage_error(good):
    res = cli(good / "evidence.json")
    assert res.exit_code == 2
