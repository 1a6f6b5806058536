"""Canonical JSON is RFC 8785 (JCS): the bytes of a real bundle, its event log, Statement and
envelope equal what an independent JCS implementation (`jcs` from PyPI, not the `rfc8785` the
service uses) writes, floats and non-ASCII included; and bundles written before JCS keep serving
the bytes they hashed."""

import base64
import hashlib
import json

import jcs
import pytest
from crownest_client import canonical as client_canonical
from crownest_client import evidence_sha256

from evidence.canonical import canonical, legacy_canonical
from evidence.models import Attestation, EvidenceBundle
from evidence.services import bundle_data, events_ndjson
from runs.ending import Outcome, run_end
from runs.models import Run
from runs.stream import events

from .helpers import make_targz

S = Run.Status
TEXT = 'héllo ✓ Ωmega \u2028 line separator, an emoji 😀, a quote " and a tab\t\n'
COMMAND = "printf 'é ✓ \u2028 😀'"
# Every JCS number rule: 1.0 is 1, 1e21 is 1e+21, 0.1+0.2 keeps its 17 digits, -0 is 0.
FLOATS = [1.0, 1e21, 0.1 + 0.2, -0.0, 1e-7, 5e-324, 2.5]


def ended_run(runs, *, limits_extra=None) -> str:
    """A run through the service's own paths: created and uploaded through the API, output and
    heartbeats appended as the worker appends them, ended by the run-ended path (bundle built,
    signed and stored)."""
    data = make_targz({"a.txt": "a"})
    run = runs.create(data, command=COMMAND)
    assert runs.upload(run["id"], data).status_code == 200
    Run.objects.filter(pk=run["id"]).update(status=S.RUNNING)
    if limits_extra:
        # Values no validated input produces, written into the row itself: they reach the
        # bundle through the real build, store (jsonb) and serve path.
        row = Run.objects.get(pk=run["id"])
        Run.objects.filter(pk=row.pk).update(limits={**(row.limits or {}), **limits_extra})
    items = [("stdout", {"text": TEXT})]
    items += [("heartbeat", {"elapsedSeconds": f}) for f in FLOATS]
    events.append(run["id"], items)
    run_end(run["id"], Outcome(S.FAILED, 2, "exit_code"))
    return run["id"]


def served(api, run_id):
    base = f"/api/v1/workspace-runs/{run_id}"
    bundle = api.get(f"{base}/evidence")
    log = b"".join(api.get(f"{base}/events.ndjson").streaming_content)
    envelope = api.get(f"{base}/evidence/attestation").content
    return bundle, log, envelope


@pytest.mark.django_db
def test_a_real_bundle_and_its_log_are_jcs_by_an_independent_implementation(runs, api):
    run_id = ended_run(runs, limits_extra={"cpus": 1.0, "edge": FLOATS, "name": "Ω 😀 \u2028"})
    resp, log, envelope = served(api, run_id)
    assert resp.status_code == 200
    body = resp.json()
    assert body["canonicalization"] == "RFC8785"
    assert body["command"] == COMMAND

    # X-Evidence-Sha256 is reproduced by another JCS implementation from the JSON as served.
    independent = jcs.canonicalize(body)
    assert resp["X-Evidence-Sha256"] == hashlib.sha256(independent).hexdigest()
    stored = EvidenceBundle.objects.get(run_id=run_id)
    assert stored.sha256 == resp["X-Evidence-Sha256"]
    assert canonical(stored.data) == jcs.canonicalize(stored.data) == independent
    # ... the numbers as ECMAScript writes them, non-ASCII as raw UTF-8 (U+2028 unescaped).
    assert b'"cpus":1,' in independent
    assert b'"edge":[1,1e+21,0.30000000000000004,0,1e-7,5e-324,2.5]' in independent
    for text in ("é ✓", "\u2028", "😀", "Ω"):
        assert text.encode() in independent
    assert b"\\u" not in independent
    # The JSON as served still writes Python's floats; JCS makes them one form.
    assert b'"cpus": 1.0' in resp.content or b'"cpus":1.0' in resp.content

    # events.ndjson: each line is the JCS of its event; the digest is over these bytes.
    assert hashlib.sha256(log).hexdigest() == body["events"]["sha256"]
    lines = log.splitlines(keepends=True)
    assert len(lines) == body["events"]["count"]
    for line in lines:
        assert line == jcs.canonicalize(json.loads(line)) + b"\n"
    beats = [json.loads(x)["data"]["elapsedSeconds"] for x in lines if b"heartbeat" in x]
    assert jcs.canonicalize(beats) == b"[1,1e+21,0.30000000000000004,0,1e-7,5e-324,2.5]"
    out = next(x for x in lines if b'"type":"stdout"' in x)
    assert json.loads(out)["data"]["text"] == TEXT
    assert "\u2028 line separator, an emoji 😀".encode() in out  # raw UTF-8, not \u escapes
    assert body["terminalEvent"] == json.loads(lines[-1])

    # The signed Statement and the envelope are JCS bytes as well.
    payload = base64.b64decode(json.loads(envelope)["payload"])
    assert payload == jcs.canonicalize(json.loads(payload))
    assert envelope == jcs.canonicalize(json.loads(envelope))
    assert hashlib.sha256(envelope).hexdigest() == body["attestation"]["sha256"]


def test_the_float_and_string_rules_of_rfc_8785():
    cases = {
        "floats": FLOATS + [1e16, 123456789012345680000.0, 9.999999999999999e20, 1 / 3],
        "ints": [0, -1, 2**53 - 1, -(2**53 - 1)],
        "strings": ["", "\u0000\u001f\u007f\b\f\n\r\t", '"\\/', "\ue000", "😀", "\u2028\u2029"],
        # JCS orders keys by UTF-16 code units: "😀" (D83D …) before "\ue000".
        "keys": {"\ue000": 1, "😀": 2, "a": 3, "B": 4, "é": 5, "10": 6, "9": 7, "": 8},
        "nested": [{"z": [True, False, None], "a": {"y": -0.0, "x": 1.0}}, [], {}],
    }
    for ours in (canonical, client_canonical):
        assert ours(cases) == jcs.canonicalize(cases)
        # PostgreSQL's jsonb gives 1e21 back as an integer: still the double 1e+21.
        assert ours({"n": 10**21}) == jcs.canonicalize({"n": 1e21}) == b'{"n":1e+21}'
        with pytest.raises(ValueError):
            ours({"n": 2**53 + 1})  # no double holds it: refused, never rounded
    assert canonical({"😀": 2, "\ue000": 1}) == '{"😀":2,"\ue000":1}'.encode()
    assert legacy_canonical({"😀": 2, "\ue000": 1}) == '{"\ue000":1,"😀":2}'.encode()


@pytest.mark.django_db
def test_a_bundle_written_before_jcs_keeps_its_bytes(runs, api):
    """An older bundle (no `canonicalization`) keeps the digest and log lines it was written with:
    its event log is served in the old form, so its signed events.ndjson subject still holds."""
    run_id = ended_run(runs)
    run = Run.objects.get(pk=run_id)
    Attestation.objects.filter(bundle__run_id=run_id).delete()
    EvidenceBundle.objects.filter(run_id=run_id).delete()
    data = bundle_data(run)
    del data["canonicalization"]
    old_log = b"".join(events_ndjson(run_id, jcs=False))
    data["events"]["sha256"] = hashlib.sha256(old_log).hexdigest()
    EvidenceBundle.objects.create(
        run=run, data=data, sha256=hashlib.sha256(legacy_canonical(data)).hexdigest()
    )
    resp, log, _ = served(api, run_id)
    assert log == old_log and log.startswith(b'{"seq":1,"type":')
    assert hashlib.sha256(log).hexdigest() == resp.json()["events"]["sha256"]
    # The SDK reproduces an old digest with the serialisation the bundle names by its absence.
    assert evidence_sha256(resp.json()) == resp["X-Evidence-Sha256"]
