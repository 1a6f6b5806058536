"""Offline verification of real runs' evidence, and every tamper case, refused by name by both
the `crownest` CLI and the TypeScript SDK (with no server reachable)."""

import base64
import json
import os
import shutil
import subprocess
import sys
from hashlib import sha256
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).parent / "crownest")
TS = ROOT / "clients" / "typescript"


@pytest.fixture(scope="module")
def ts_built():
    for cmd in (["npm", "ci", "--no-audit", "--no-fund"], ["npm", "run", "build"]):
        if cmd[1] == "ci" and (TS / "node_modules" / ".bin" / "tsc").exists():
            continue
        out = subprocess.run(cmd, cwd=TS, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def offline_env(tmp_path) -> dict:
    """No server: a closed port, so any network use would fail the command."""
    return {
        **os.environ,
        "CROWNEST_URL": "http://127.0.0.1:9",
        "CROWNEST_TOKEN": "none",
        "CROWNEST_CONFIG": str(tmp_path / "none.json"),
    }


def run_archive(stack, user, tmp_path, name: str, script: str) -> Path:
    src, out = tmp_path / f"{name}-src", tmp_path / name
    src.mkdir()
    (src / "make.sh").write_text(script)
    env = {
        **os.environ,
        "CROWNEST_URL": stack.base_url,
        "CROWNEST_TOKEN": stack.token(user),
        "CROWNEST_CONFIG": str(tmp_path / "none.json"),
    }
    done = subprocess.run(
        [CLI, "run-archive", str(src), "-a", "dist/", "--out", str(out), "-c", "sh make.sh"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("evidence.json", "attestation.dsse.json", "events.ndjson", "evidence-keys.json"):
        assert (out / name).is_file(), name
    return out


def verdicts(
    folder: Path, tmp_path
) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    env = offline_env(tmp_path)
    cli = subprocess.run(
        [CLI, "evidence", "verify", str(folder)], env=env, capture_output=True, text=True
    )
    ts = subprocess.run(
        ["node", str(TS / "scripts" / "verify-dir.mjs"), str(folder)],
        capture_output=True,
        text=True,
    )
    return cli, ts


def refused(folder: Path, tmp_path, message: str) -> None:
    cli, ts = verdicts(folder, tmp_path)
    assert cli.returncode == 1 and message in cli.stdout + cli.stderr, cli.stdout + cli.stderr
    assert ts.returncode == 1 and message in ts.stdout, ts.stdout + ts.stderr


def copy(folder: Path, tmp_path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(folder, target)
    return target


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def rewrite_events(folder: Path, change) -> None:
    lines = (folder / "events.ndjson").read_bytes().splitlines(keepends=True)
    (folder / "events.ndjson").write_bytes(b"".join(change(lines)))


def test_evidence_verifies_offline_and_each_tamper_is_named(stack, user, tmp_path, ts_built):
    script = "mkdir -p dist && printf alpha > dist/a.txt && echo built && echo warn >&2"
    good = run_archive(stack, user, tmp_path, "good", script)
    other = run_archive(stack, user, tmp_path, "other", "mkdir -p dist && printf beta > dist/a.txt")

    cli, ts = verdicts(good, tmp_path)
    assert cli.returncode == 0 and "verified" in cli.stdout.lower(), cli.stdout + cli.stderr
    assert ts.returncode == 0 and ts.stdout.startswith("verified"), ts.stdout + ts.stderr

    flipped = copy(good, tmp_path, "flipped")
    (flipped / "dist" / "a.txt").write_bytes(b"alphA")
    refused(flipped, tmp_path, "artifact dist/a.txt: sha256 differs from the signed subject")

    for name, change, reason in (
        ("removed", lambda ls: ls[:2] + ls[3:], "(gap)"),
        ("reordered", lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], "(out of order)"),
        ("edited", lambda ls: [ls[0].replace(b'"status"', b'"stat\\u0075s"'), *ls[1:]], ""),
    ):
        folder = copy(good, tmp_path, name)
        rewrite_events(folder, change)
        refused(folder, tmp_path, "events.ndjson: sha256 differs from the signed subject")
        if reason:
            refused(folder, tmp_path, reason)

    exit_edit = copy(good, tmp_path, "exit")
    edit_json(exit_edit / "evidence.json", lambda b: b.update(exitCode=1))
    refused(exit_edit, tmp_path, "bundle exitCode 1 differs from the signed outcome 0")

    status_edit = copy(good, tmp_path, "status")
    edit_json(status_edit / "evidence.json", lambda b: b.update(status="failed"))
    refused(status_edit, tmp_path, "bundle status failed differs from the signed outcome succeeded")

    mixed = copy(other, tmp_path, "mixed")
    shutil.copy(good / "attestation.dsse.json", mixed / "attestation.dsse.json")
    good_id = json.loads((good / "evidence.json").read_text())["runId"]
    other_id = json.loads((other / "evidence.json").read_text())["runId"]
    refused(mixed, tmp_path, f"attestation is for run {good_id} but the bundle is run {other_id}")

    foreign = copy(good, tmp_path, "foreign")
    resign(foreign / "attestation.dsse.json", ec.generate_private_key(ec.SECP256R1()))
    refused(foreign, tmp_path, "signed by an unknown key")

    retired = copy(good, tmp_path, "retired")
    edit_json(
        retired / "evidence-keys.json", lambda ks: [k.update(retiredAt=k["createdAt"]) for k in ks]
    )
    cli, ts = verdicts(retired, tmp_path)
    assert cli.returncode == 0 and "retired" in cli.stdout, cli.stdout + cli.stderr
    assert ts.returncode == 0 and "retired" in ts.stdout, ts.stdout + ts.stderr

    unknown = copy(good, tmp_path, "unknown")
    (unknown / "evidence-keys.json").write_text("[]")
    refused(unknown, tmp_path, "signed by an unknown key")


def resign(path: Path, private_key) -> None:
    """A valid signature, but by a key that is not the service's."""
    envelope = json.loads(path.read_text())
    payload = base64.b64decode(envelope["payload"])
    kind = envelope["payloadType"].encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    envelope["signatures"] = [
        {
            "keyid": sha256(der).hexdigest(),
            "sig": base64.b64encode(private_key.sign(pae, ec.ECDSA(hashes.SHA256()))).decode(),
        }
    ]
    path.write_text(json.dumps(envelope))
