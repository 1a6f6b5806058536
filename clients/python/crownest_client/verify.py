"""Offline verification of an Evidence Bundle against its signed attestation: the seven steps of
docs/evidence.md, in order, stopping at the first failure and naming it. No network: the inputs
are a folder (or the same data in memory) and the trusted keys.

    verdict = verify_folder("out/")                     # keys from out/evidence-keys.json
    verdict = verify_folder("out/", key_file="k.pem")   # trust only a pinned key
    verdict.ok, verdict.checks, verdict.failure, verdict.notes
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .canonical import canonical
from .oneshot import (
    ATTESTATION_FILE,
    BUNDLE_FILE,
    EVENTS_FILE,
    EVIDENCE_FILES,
    KEYS_FILE,
    safe_join,
)
from .packing import file_digest

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUNDLE_SCHEMA = "crownest.evidence/v1"
KEY_ALGORITHM = "ecdsa-p256-sha256"
EVENTS_SUBJECT = "events.ndjson"
NETWORK_SUBJECT = "network.ndjson"
CHECKS = ("signature", "statement", "run", "outcome", "subjects", "events", "artifacts")
INPUTS = "inputs"  # the check named when a file is missing or unreadable, before step 1


class VerificationError(Exception):
    """One check failed; the message says which fact disagrees with which."""


@dataclass
class TrustedKey:
    keyid: str  # hex sha256 of the DER SubjectPublicKeyInfo, computed here, never taken on trust
    public_key: ec.EllipticCurvePublicKey
    retired_at: str | None = None
    created_at: str | None = None


@dataclass
class Failure:
    check: str  # one of CHECKS, or "inputs"
    message: str


@dataclass
class Verdict:
    run_id: str | None = None
    checks: list[str] = field(default_factory=list)  # the checks that held, in order
    details: dict[str, str] = field(default_factory=dict)  # check -> what it established
    failure: Failure | None = None  # the first failure; later checks did not run
    notes: list[str] = field(default_factory=list)  # e.g. retired key, artifact not checked
    keyid: str | None = None  # the key whose signature verified

    @property
    def ok(self) -> bool:
        return self.failure is None and tuple(self.checks) == CHECKS

    def to_json(self) -> dict:
        return {
            "ok": self.ok,
            "runId": self.run_id,
            "keyid": self.keyid,
            "checks": list(self.checks),
            "details": dict(self.details),
            "failure": {"check": self.failure.check, "message": self.failure.message}
            if self.failure
            else None,
            "notes": list(self.notes),
        }


# keys


def keyid_of(public_key: ec.EllipticCurvePublicKey) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def key_from_pem(pem: bytes | str, *, retired_at=None, created_at=None) -> TrustedKey:
    """An ECDSA P-256 public key in PEM; ValueError for anything else."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"not a PEM public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("not an ECDSA P-256 public key")
    return TrustedKey(keyid_of(key), key, retired_at, created_at)


def keys_from_list(entries: Any) -> list[TrustedKey]:
    """The JSON served by GET /api/v1/evidence-keys. A listed keyid must be the one its public
    key hashes to: a list that says otherwise is refused, not half-trusted."""
    if not isinstance(entries, list):
        raise ValueError("expected a JSON list of keys")
    keys = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("publicKeyPem"), str):
            raise ValueError(f"key {i} has no publicKeyPem")
        if entry.get("algorithm", KEY_ALGORITHM) != KEY_ALGORITHM:
            raise ValueError(
                f"key {i} has algorithm {entry.get('algorithm')!r}, not {KEY_ALGORITHM}"
            )
        try:
            key = key_from_pem(
                entry["publicKeyPem"],
                retired_at=entry.get("retiredAt"),
                created_at=entry.get("createdAt"),
            )
        except ValueError as exc:
            raise ValueError(f"key {i}: {exc}") from None
        if entry.get("keyid") not in (None, key.keyid):
            raise ValueError(
                f"key {i} is listed as {entry['keyid']} but its public key is {key.keyid}"
            )
        keys.append(key)
    return keys


def load_key_file(path: str | Path) -> list[TrustedKey]:
    """A pinned key: a PEM public key, or a saved evidence-keys.json list."""
    data = Path(path).read_bytes()
    if data.lstrip().startswith(b"["):
        try:
            entries = json.loads(data)
        except ValueError:
            raise ValueError("not a JSON list of keys") from None
        return keys_from_list(entries)
    return [key_from_pem(data)]


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: "DSSEv1" SP len(type) SP type SP len(body) SP body."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


# the seven steps


def _show(value: Any) -> str:
    if value is None:
        return "null"
    return value if isinstance(value, str) else json.dumps(value)


def _same(a: Any, b: Any) -> bool:
    """JSON equality as RFC 8785 sees it: key order does not matter and 1 and 1.0 are one
    number (JSON has one number type), but 0 and false, 1 and "1" are different facts."""
    return canonical(a) == canonical(b)


def _b64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (TypeError, ValueError, binascii.Error):
        raise VerificationError(f"{what} is not valid base64") from None


def _dict(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise VerificationError(f"{what} is missing or not a JSON object")
    return value


class _Steps:
    """One check_<step> method per step of docs/evidence.md; each raises VerificationError or
    returns a short description of what it established. Later steps use what earlier ones
    parsed."""

    def __init__(self, bundle, envelope, events: bytes, keys, root: Path | None, notes: list):
        self.bundle, self.envelope, self.events_bytes = bundle, envelope, events
        self.keys, self.root, self.notes = keys, root, notes
        self.keyid = None
        self.run_id = bundle.get("runId")

    def check_signature(self) -> str:
        env = _dict(self.envelope, "attestation.dsse.json (the DSSE envelope)")
        if env.get("payloadType") != PAYLOAD_TYPE:
            raise VerificationError(
                f"payloadType {_show(env.get('payloadType'))} is not {PAYLOAD_TYPE}"
            )
        self.payload = _b64(env.get("payload"), "attestation payload")
        signatures = env.get("signatures")
        if not isinstance(signatures, list) or not signatures:
            raise VerificationError("attestation has no signatures")
        trusted = {k.keyid: k for k in self.keys}
        message = pae(PAYLOAD_TYPE, self.payload)
        unknown, failed = [], []
        for sig in signatures:
            keyid = sig.get("keyid") if isinstance(sig, dict) else None
            key = trusted.get(keyid)
            if key is None:
                unknown.append(keyid or "(no keyid)")
                continue
            try:
                key.public_key.verify(
                    _b64(sig.get("sig"), "signature"), message, ec.ECDSA(hashes.SHA256())
                )
            except (InvalidSignature, VerificationError):
                failed.append(keyid)
                continue
            self.keyid = keyid
            if key.retired_at:
                self.notes.append(
                    f"signed by retired key {keyid} (retired {key.retired_at}); it still verifies"
                )
                return f"signed by retired key {keyid}"
            return f"signed by key {keyid}"
        if failed:
            raise VerificationError(f"signature does not verify with key {failed[0]}")
        raise VerificationError(f"signed by an unknown key {unknown[0]}")

    def check_statement(self) -> str:
        try:
            statement = json.loads(self.payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise VerificationError("the signed statement is not UTF-8 JSON") from None
        self.statement = _dict(statement, "the signed statement")
        for name, want in (("_type", STATEMENT_TYPE), ("predicateType", PREDICATE_TYPE)):
            if statement.get(name) != want:
                raise VerificationError(f"{name} {_show(statement.get(name))} is not {want}")
        return "in-toto Statement v1, SLSA provenance v1"

    def check_run(self) -> str:
        predicate = _dict(self.statement.get("predicate"), "statement predicate")
        details = _dict(predicate.get("runDetails"), "statement predicate.runDetails")
        metadata = _dict(details.get("metadata"), "statement runDetails.metadata")
        byproducts = (
            details.get("byproducts") if isinstance(details.get("byproducts"), list) else []
        )
        outcome = next(
            (b for b in byproducts if isinstance(b, dict) and b.get("name") == "outcome"), None
        )
        if outcome is None:
            raise VerificationError("statement has no outcome byproduct")
        self.outcome = _dict(outcome.get("annotations"), "statement outcome annotations")
        signed = metadata.get("invocationId")
        if signed != self.run_id:
            raise VerificationError(
                f"attestation is for run {_show(signed)} but the bundle is run {_show(self.run_id)}"
            )
        if self.outcome.get("runId") != self.run_id:
            raise VerificationError(
                f"the signed outcome is for run {_show(self.outcome.get('runId'))}"
                f" but the bundle is run {_show(self.run_id)}"
            )
        return f"run {self.run_id}"

    def check_outcome(self) -> str:
        self.bundle_events = _dict(self.bundle.get("events"), "bundle events")
        pairs = (
            ("status", self.bundle.get("status"), "status"),
            ("exitCode", self.bundle.get("exitCode"), "exitCode"),
            ("failureReason", self.bundle.get("failureReason"), "failureReason"),
            ("events.lastSeq", self.bundle_events.get("lastSeq"), "lastSeq"),
        )
        for name, ours, signed_name in pairs:
            signed = self.outcome.get(signed_name)
            if not _same(ours, signed):
                label = "" if name == signed_name else f"{signed_name} "
                raise VerificationError(
                    f"bundle {name} {_show(ours)} differs from the signed outcome"
                    f" {label}{_show(signed)}"
                )
        return (
            f"{_show(self.outcome.get('status'))}, exit code {_show(self.outcome.get('exitCode'))}"
        )

    def check_subjects(self) -> str:
        subjects = self.statement.get("subject")
        if not isinstance(subjects, list):
            raise VerificationError("statement has no subject list")
        digests = []
        for s in subjects:
            digest = s.get("digest") if isinstance(s, dict) else None
            if not isinstance(digest, dict) or not isinstance(s.get("name"), str):
                raise VerificationError(f"statement subject {_show(s)} has no name or digest")
            digests.append((s["name"], digest.get("sha256")))
        self.network_subject = self._network_subject(digests)
        # the event log is the last subject of its name (an artifact might share the name)
        last = max((i for i, (name, _) in enumerate(digests) if name == EVENTS_SUBJECT), default=-1)
        if last < 0:
            raise VerificationError(f"{EVENTS_SUBJECT} has no signed subject")
        self.events_subject = digests.pop(last)[1]
        self.artifact_subjects: dict[str, str] = {}
        for name, sha in digests:
            if name in self.artifact_subjects:
                raise VerificationError(f"statement names subject {name} twice")
            self.artifact_subjects[name] = sha
        artifacts = self.bundle.get("artifacts")
        if not isinstance(artifacts, list):
            raise VerificationError("bundle artifacts is missing or not a list")
        self.artifacts = artifacts
        for a in artifacts:
            path = a.get("path") if isinstance(a, dict) else None
            if path not in self.artifact_subjects:
                raise VerificationError(f"artifact {_show(path)} has no signed subject")
            if a.get("sha256") != self.artifact_subjects[path]:
                raise VerificationError(
                    f"artifact {path}: bundle sha256 differs from the signed subject"
                )
        extra = sorted(set(self.artifact_subjects) - {a["path"] for a in artifacts})
        if extra:
            raise VerificationError(
                f"subject {extra[0]} is signed but is not an artifact of the bundle"
            )
        if self.bundle_events.get("sha256") != self.events_subject:
            raise VerificationError(
                f"bundle events.sha256 differs from the signed {EVENTS_SUBJECT} subject"
            )
        return f"{len(artifacts)} artifact(s) and {EVENTS_SUBJECT}"

    def _network_subject(self, digests: list) -> str | None:
        """A network run signs its request log as the last subject named network.ndjson."""
        network = self.bundle.get("network")
        if not isinstance(network, dict) or network.get("mode", "none") == "none":
            return None
        last = max((i for i, (n, _) in enumerate(digests) if n == NETWORK_SUBJECT), default=-1)
        if last < 0:
            raise VerificationError(f"{NETWORK_SUBJECT} has no signed subject")
        sha = digests.pop(last)[1]
        if network.get("logSha256") != sha:
            raise VerificationError(
                f"bundle network.logSha256 differs from the signed {NETWORK_SUBJECT} subject"
            )
        self._check_network_log(sha)
        return sha

    def _check_network_log(self, sha: str) -> None:
        """The saved log hashes to the signed digest, and every successful download in it is
        a signed resolvedDependency (URL and body digest)."""
        path = self.root / NETWORK_SUBJECT if self.root is not None else None
        if path is None or not path.is_file():
            self.notes.append(f"{NETWORK_SUBJECT} not downloaded, not checked")
            return
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha:
            raise VerificationError(f"{NETWORK_SUBJECT}: sha256 differs from the signed subject")
        deps = self.statement.get("predicate", {}).get("buildDefinition", {})
        signed = {
            (d.get("uri"), (d.get("digest") or {}).get("sha256"))
            for d in deps.get("resolvedDependencies") or []
            if isinstance(d, dict)
        }
        for line in data.splitlines():
            entry = json.loads(line)
            ok = entry.get("decision") in ("allowed", "replayed") and entry.get("sha256")
            if ok and 200 <= (entry.get("status") or 0) < 300:
                if (entry.get("url"), entry["sha256"]) not in signed:
                    raise VerificationError(
                        f"{NETWORK_SUBJECT}: download {entry.get('url')} is not a signed "
                        "resolvedDependency"
                    )

    def check_events(self) -> str:
        events = _parse_log(self.events_bytes)  # order, gaps, the terminal event
        if hashlib.sha256(self.events_bytes).hexdigest() != self.events_subject:
            why = (
                "; " + events.removeprefix(f"{EVENTS_SUBJECT}: ") if isinstance(events, str) else ""
            )
            raise VerificationError(
                f"{EVENTS_SUBJECT}: sha256 differs from the signed subject{why}"
            )
        if isinstance(events, str):  # signed as it is, yet not a well-formed log
            raise VerificationError(events)
        count, last_seq = self.bundle_events.get("count"), self.bundle_events.get("lastSeq")
        if not _same(len(events), count):
            raise VerificationError(
                f"{EVENTS_SUBJECT} has {len(events)} events but the bundle's events.count is"
                f" {_show(count)}"
            )
        if not _same(len(events), last_seq):
            raise VerificationError(
                f"{EVENTS_SUBJECT} ends at seq {len(events)} but the bundle's events.lastSeq is"
                f" {_show(last_seq)}"
            )
        terminal = events[-1]
        if not _same(terminal, self.bundle.get("terminalEvent")):
            raise VerificationError(
                f"the terminal event (seq {terminal['seq']}) differs from bundle.terminalEvent"
            )
        data = terminal.get("data") if isinstance(terminal.get("data"), dict) else {}
        for name in ("status", "exitCode", "failureReason"):
            if not _same(data.get(name), self.bundle.get(name)):
                raise VerificationError(
                    f"terminal event {name} {_show(data.get(name))} differs from the"
                    f" bundle's {_show(self.bundle.get(name))}"
                )
        return f"{len(events)} events, seq 1..{len(events)}, terminal last"

    def check_artifacts(self) -> str:
        checked = 0
        for a in self.artifacts:
            path = a["path"]
            if self.root is None:
                self.notes.append(f"artifact {path} not downloaded, not checked")
                continue
            try:
                target = safe_join(self.root, path)
            except ValueError:
                raise VerificationError(f"artifact {path}: its path leaves the folder") from None
            if any(target == safe_join(self.root, name) for name in EVIDENCE_FILES):
                self.notes.append(
                    f"artifact {path} shares its name with an evidence file, not checked"
                )
                continue
            if not target.is_file():
                self.notes.append(f"artifact {path} not downloaded, not checked")
                continue
            if file_digest(target)[1] != self.artifact_subjects[path]:
                raise VerificationError(f"artifact {path}: sha256 differs from the signed subject")
            checked += 1
        missing = len(self.artifacts) - checked
        return f"{checked} checked" + (f", {missing} not checked" if missing else "")


def _parse_log(data: bytes) -> list[dict] | str:
    """events.ndjson's own shape: one event object per line, seq 1..N in order, no gap, exactly
    one terminal event and that one last. The events, or what is wrong (which line, which seq)."""
    name = EVENTS_SUBJECT
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return f"{name}: not UTF-8"
    if not text:
        return f"{name}: empty"
    if not text.endswith("\n"):
        return f"{name}: the last line has no newline"
    events = []
    for n, line in enumerate(text[:-1].split("\n"), 1):
        try:
            event = json.loads(line)
        except ValueError:
            return f"{name}: line {n} is not JSON"
        if not isinstance(event, dict) or type(event.get("seq")) is not int:
            return f"{name}: line {n} has no seq"
        events.append(event)
    seqs = {e["seq"] for e in events}
    prev, terminal = 0, None
    for event in events:
        seq = event["seq"]
        if prev == 0 and seq != 1:
            return f"{name}: starts at seq {seq}, not 1" + (" (out of order)" if 1 in seqs else "")
        if seq != prev + 1:
            why = "repeated" if seq == prev else "out of order" if seq < prev else "gap"
            why = "out of order" if why == "gap" and prev + 1 in seqs else why
            return f"{name}: seq {seq} follows seq {prev} ({why})"
        if event.get("type") == "terminal":
            if terminal is not None:
                return f"{name}: a second terminal event (seq {seq}) after seq {terminal}"
            terminal = seq
        prev = seq
    if terminal is None:
        return f"{name}: no terminal event"
    if terminal != prev:
        return f"{name}: the terminal event (seq {terminal}) is not last (seq {prev})"
    return events


def verify_evidence(
    bundle: Any,
    envelope: Any,
    events: bytes,
    keys: list[TrustedKey],
    *,
    folder: str | Path | None = None,
) -> Verdict:
    """The seven steps on parsed inputs: the bundle (dict), the envelope (dict), the event log's
    bytes, the trusted keys. Artifacts are hashed from `folder`/<path> when there."""
    verdict = Verdict()
    if not isinstance(bundle, dict):
        verdict.failure = Failure(INPUTS, f"{BUNDLE_FILE}: not a JSON object")
        return verdict
    verdict.run_id = bundle.get("runId")
    if bundle.get("schema") != BUNDLE_SCHEMA:
        message = f"{BUNDLE_FILE}: schema is {_show(bundle.get('schema'))}, not {BUNDLE_SCHEMA}"
        verdict.failure = Failure(INPUTS, message)
        return verdict
    steps = _Steps(bundle, envelope, events, keys, Path(folder) if folder else None, verdict.notes)
    for check in CHECKS:
        try:
            verdict.details[check] = getattr(steps, f"check_{check}")()
        except VerificationError as exc:
            verdict.failure = Failure(check, str(exc))
            break
        except (KeyError, TypeError, AttributeError, ValueError) as exc:  # a malformed shape
            verdict.failure = Failure(check, f"malformed input ({type(exc).__name__}: {exc})")
            break
        verdict.checks.append(check)
    verdict.keyid = steps.keyid
    return verdict


def _read(folder: Path, name: str) -> bytes:
    path = folder / name
    if not path.is_file():
        raise VerificationError(f"{name}: missing from {folder}")
    return path.read_bytes()


def _read_json(folder: Path, name: str) -> Any:
    try:
        return json.loads(_read(folder, name))
    except ValueError:
        raise VerificationError(f"{name}: not JSON") from None


def _folder_inputs(folder: Path, key_file, keys) -> tuple[Any, bytes, Any, bytes, list]:
    bundle = _read_json(folder, BUNDLE_FILE)
    envelope_bytes = _read(folder, ATTESTATION_FILE)
    try:
        envelope = json.loads(envelope_bytes)
    except ValueError:
        raise VerificationError(f"{ATTESTATION_FILE}: not JSON") from None
    events = _read(folder, EVENTS_FILE)
    if keys is None and key_file is not None:
        try:
            keys = load_key_file(key_file)
        except (OSError, ValueError) as exc:
            raise VerificationError(f"key file {key_file}: {exc}") from None
    if keys is None:
        if not (folder / KEYS_FILE).is_file():
            raise VerificationError(
                f"no trusted keys: {KEYS_FILE} is missing from {folder} and no key was given"
            )
        try:
            keys = keys_from_list(_read_json(folder, KEYS_FILE))
        except ValueError as exc:
            raise VerificationError(f"{KEYS_FILE}: {exc}") from None
    return bundle, envelope_bytes, envelope, events, keys


def verify_folder(
    folder: str | Path,
    *,
    key_file: str | Path | None = None,
    keys: list[TrustedKey] | None = None,
) -> Verdict:
    """Verify DIR/evidence.json, attestation.dsse.json, events.ndjson and the artifacts at
    DIR/<path>. Trusted keys: `keys`, else the pinned `key_file` (PEM, or a keys list), else
    DIR/evidence-keys.json."""
    root = Path(folder)
    try:
        bundle, envelope_bytes, envelope, events, keys = _folder_inputs(root, key_file, keys)
    except VerificationError as exc:
        return Verdict(failure=Failure(INPUTS, str(exc)))
    verdict = verify_evidence(bundle, envelope, events, keys, folder=root)
    named = bundle.get("attestation") if isinstance(bundle, dict) else None
    named = named if isinstance(named, dict) else {}
    if named.get("sha256") and named["sha256"] != hashlib.sha256(envelope_bytes).hexdigest():
        verdict.notes.append(
            f"{ATTESTATION_FILE} is not byte for byte the envelope the bundle names"
            " (re-serialised?); the signature inside it is what was checked"
        )
    if verdict.keyid and named.get("keyid") not in (None, verdict.keyid):
        verdict.notes.append(
            f"the bundle names key {named['keyid']}, the signature is by {verdict.keyid}"
        )
    return verdict
