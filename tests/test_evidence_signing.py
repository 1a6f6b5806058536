"""Signed evidence: the attestation of a real run, checked by verifiers we did not write
(securesystemslib's DSSE, @sigstore/verify), immutability, rotation, backfill, bound reviews."""

import base64
import copy
import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.management import call_command
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

from evidence import keys
from evidence.models import Attestation, EvidenceBundle, ImmutableRecord, Review
from runs.ending import Outcome, run_end
from runs.models import Membership, Run, Team

from .helpers import archive_meta, client_for, make_targz

ROOT = Path(__file__).resolve().parent.parent
TS = ROOT / "clients" / "typescript"
S = Run.Status


def fetch(api, run_id):
    base = f"/api/v1/workspace-runs/{run_id}"
    bundle = api.get(f"{base}/evidence").json()
    raw = api.get(f"{base}/evidence/attestation")
    ndjson = b"".join(api.get(f"{base}/events.ndjson").streaming_content)
    return bundle, raw, ndjson


def sslib_key(pem: str, keyid: str) -> SSlibKey:
    public = serialization.load_pem_public_key(pem.encode())
    return SSlibKey.from_crypto(public, keyid=keyid, scheme="ecdsa-sha2-nistp256")


def statement_of(envelope: dict) -> dict:
    return json.loads(base64.b64decode(envelope["payload"]))


@pytest.fixture(scope="session")
def sigstore_verifier():
    """The TypeScript package's node_modules (with @sigstore/verify), installed once."""
    if not (TS / "node_modules" / "@sigstore" / "verify").is_dir():
        out = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=TS, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr[-3000:]
    return TS / "scripts" / "sigstore-verify.mjs"


@pytest.mark.docker
def test_a_real_run_is_signed_and_independent_verifiers_accept_it(
    runs, api, worker, tmp_path, sigstore_verifier
):
    run = runs.submit(
        {"a.txt": "alpha"}, command="cp a.txt out.txt; echo done", artifactPaths=["out.txt"]
    )
    assert runs.wait(run["id"])["status"] == "succeeded"
    runs.wait_evidence(run["id"])
    bundle, raw, ndjson = fetch(api, run["id"])
    assert raw.status_code == 200
    envelope = json.loads(raw.content)

    # The bundle names the envelope by the sha256 of the bytes served.
    assert bundle["attestation"]["sha256"] == hashlib.sha256(raw.content).hexdigest()
    assert bundle["attestation"]["url"].endswith(f"/{run['id']}/evidence/attestation")
    # events.ndjson is the exact log whose digest the bundle and the Statement carry.
    assert hashlib.sha256(ndjson).hexdigest() == bundle["events"]["sha256"]
    assert len(ndjson.splitlines()) == bundle["events"]["count"]

    statement = statement_of(envelope)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    assert subjects == {
        "out.txt": hashlib.sha256(b"alpha").hexdigest(),
        "events.ndjson": bundle["events"]["sha256"],
    }
    predicate = statement["predicate"]
    build = predicate["buildDefinition"]
    assert build["externalParameters"]["command"] == run["command"]
    assert build["internalParameters"]["network"] is False
    deps = build["resolvedDependencies"]
    assert deps[0] == {"name": "repo.tgz", "digest": {"sha256": run["archive"]["sha256"]}}
    assert "sha256:" + deps[1]["digest"]["sha256"] == bundle["template"]["imageDigest"]
    details = predicate["runDetails"]
    assert details["metadata"]["invocationId"] == run["id"]
    outcome = details["byproducts"][0]["annotations"]
    assert outcome == {
        "runId": run["id"],
        "status": "succeeded",
        "exitCode": 0,
        "failureReason": None,
        "lastSeq": bundle["events"]["lastSeq"],
    }

    # securesystemslib's DSSE: the envelope verifies with the served public key...
    listed = api.get("/api/v1/evidence-keys").json()
    keyid = envelope["signatures"][0]["keyid"]
    key = next(k for k in listed if k["keyid"] == keyid)
    assert key["algorithm"] == "ecdsa-p256-sha256" and key["retiredAt"] is None
    der = serialization.load_pem_public_key(key["publicKeyPem"].encode()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert hashlib.sha256(der).hexdigest() == keyid
    # (Envelope.from_dict consumes the signatures of the dict it is given: hand it copies.)
    verified = Envelope.from_dict(copy.deepcopy(envelope)).verify(
        [sslib_key(key["publicKeyPem"], keyid)], 1
    )
    assert list(verified) == [keyid]
    # ...and not once its payload is changed.
    forged = dict(copy.deepcopy(envelope), payload=base64.b64encode(b'{"_type":"x"}').decode())
    with pytest.raises(VerificationError):
        Envelope.from_dict(copy.deepcopy(forged)).verify([sslib_key(key["publicKeyPem"], keyid)], 1)

    # @sigstore/verify on the Sigstore bundle form, with the public key as trust material.
    sigstore = api.get(f"/api/v1/workspace-runs/{run['id']}/evidence/sigstore-bundle").json()
    assert sigstore["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert sigstore["verificationMaterial"]["publicKey"]["hint"] == keyid
    assert sigstore["dsseEnvelope"] == envelope
    (tmp_path / "bundle.json").write_text(json.dumps(sigstore))
    (tmp_path / "key.pem").write_text(key["publicKeyPem"])
    ok = subprocess.run(
        ["node", str(sigstore_verifier), str(tmp_path / "bundle.json"), str(tmp_path / "key.pem")],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    sigstore["dsseEnvelope"]["payload"] = forged["payload"]
    (tmp_path / "bundle.json").write_text(json.dumps(sigstore))
    bad = subprocess.run(
        ["node", str(sigstore_verifier), str(tmp_path / "bundle.json"), str(tmp_path / "key.pem")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0


def ended_run(runs, outcome=None) -> str:
    """A run that went through the whole run-ended path in this process (the worker's role)."""
    data = make_targz({"a.txt": "a"})
    run = runs.create(data)
    assert runs.upload(run["id"], data).status_code == 200
    Run.objects.filter(pk=run["id"]).update(status=S.RUNNING)
    run_end(run["id"], outcome or Outcome(S.FAILED, 2, "exit_code"))
    return run["id"]


@pytest.mark.django_db
def test_signed_records_are_written_once(runs, api):
    run_id = ended_run(runs)
    bundle = EvidenceBundle.objects.get(run_id=run_id)
    signed = Attestation.objects.get(bundle=bundle)
    with pytest.raises(ImmutableRecord):
        signed.save()
    with pytest.raises(ImmutableRecord):
        bundle.save()
    # the admin shows them and offers no way to change them
    admin = client_for_staff()
    page = admin.get(f"/admin/evidence/attestation/{signed.pk}/change/")
    assert page.status_code == 200 and b'name="envelope"' not in page.content
    assert admin.post(f"/admin/evidence/attestation/{signed.pk}/delete/").status_code == 403


def client_for_staff():
    from django.contrib.auth import get_user_model
    from django.test import Client

    staff = get_user_model().objects.create_user("root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    return client


@pytest.mark.django_db
def test_rotation_keeps_old_attestations_verifiable(runs, api, settings, tmp_path):
    settings.CROWNEST_EVIDENCE_KEY_FILE = tmp_path / "key.pem"
    call_command("evidence_keys", "create")
    assert (tmp_path / "key.pem").stat().st_mode & 0o777 == 0o600
    old_run = ended_run(runs)
    call_command("evidence_keys", "rotate")
    new_run = ended_run(runs)
    listed = {k["keyid"]: k for k in api.get("/api/v1/evidence-keys").json()}
    old_env = json.loads(fetch(api, old_run)[1].content)
    new_env = json.loads(fetch(api, new_run)[1].content)
    old_id, new_id = old_env["signatures"][0]["keyid"], new_env["signatures"][0]["keyid"]
    assert old_id != new_id
    assert listed[old_id]["retiredAt"] is not None and listed[new_id]["retiredAt"] is None
    for envelope, keyid in ((old_env, old_id), (new_env, new_id)):
        key = sslib_key(listed[keyid]["publicKeyPem"], keyid)
        assert list(Envelope.from_dict(envelope).verify([key], 1)) == [keyid]


@pytest.mark.django_db
def test_backfill_signs_bundles_written_without_a_key(runs, api, settings, tmp_path):
    settings.CROWNEST_EVIDENCE_KEY_FILE = tmp_path / "absent.pem"
    run_id = ended_run(runs)
    bundle = EvidenceBundle.objects.get(run_id=run_id)
    assert "attestation" not in bundle.data
    assert api.get(f"/api/v1/workspace-runs/{run_id}/evidence/attestation").status_code == 409
    settings.CROWNEST_EVIDENCE_KEY_FILE = tmp_path / "key.pem"
    keys.key_generate(settings.CROWNEST_EVIDENCE_KEY_FILE)
    out = call_output("evidence_backfill")
    assert "1 bundles to sign" in out and "signed 1/1" in out
    envelope = json.loads(fetch(api, run_id)[1].content)
    assert statement_of(envelope)["predicate"]["runDetails"]["metadata"]["invocationId"] == run_id
    assert "0 bundles to sign" in call_output("evidence_backfill")  # idempotent
    assert Attestation.objects.filter(bundle__run_id=run_id).count() == 1


def call_output(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_a_review_is_void_once_the_attestation_it_judged_differs(runs, user, django_user_model):
    team = Team.objects.create(slug="qa", name="QA")
    Membership.objects.create(team=team, user=user)
    lead = django_user_model.objects.create_user("lead")
    Membership.objects.create(team=team, user=lead, role="lead")
    run_id = ended_run(runs)
    Run.objects.filter(pk=run_id).update(team=team)
    url = f"/api/v1/workspace-runs/{run_id}/reviews"
    made = client_for(lead).post(url, {"verdict": "approve"}, format="json").json()
    signed = Attestation.objects.get(bundle__run_id=run_id)
    assert made["attestationSha256"] == hashlib.sha256(signed.envelope.encode()).hexdigest()
    assert made["void"] is False
    # Someone with database access swaps the stored envelope (keeping its sha256 column).
    forged = json.loads(signed.envelope)
    forged["payload"] = base64.b64encode(b'{"forged":true}').decode()
    Attestation.objects.filter(pk=signed.pk).update(envelope=json.dumps(forged))
    listed = client_for(user).get(url).json()
    assert [(r["verdict"], r["void"]) for r in listed] == [("approve", True)]
    page = client_for_session(user).get(f"/runs/{run_id}")
    assert b"void" in page.content.lower()
    assert Review.objects.get().attestation_sha256 == made["attestationSha256"]


def client_for_session(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_exports_before_the_end_answer_evidence_not_ready(runs, api):
    data = make_targz({"a.txt": "a"})
    run = api.post(
        "/api/v1/workspace-runs",
        {"template": "python-node", "command": "true", "archive": archive_meta(data)},
        format="json",
    ).json()
    for path in ("events.ndjson", "evidence/attestation", "evidence/sigstore-bundle"):
        resp = api.get(f"/api/v1/workspace-runs/{run['id']}/{path}")
        assert resp.status_code == 409, path
        assert resp.json()["error"]["code"] == "evidence_not_ready"
