"""The signed claims of a run: an in-toto Statement v1 with a SLSA provenance v1 predicate,
in a DSSE envelope signed with ECDSA P-256 (docs/evidence.md is the format's reference)."""

import base64
import hashlib

from django.conf import settings

from runs.egress.store import downloads
from runs.models import Run

from .canonical import canonical
from .keys import SigningKey

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://crownest.dev/workspace-run/v1"
SIGSTORE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement(run: Run, bundle: dict) -> dict:
    subjects = [{"name": a["path"], "digest": {"sha256": a["sha256"]}} for a in bundle["artifacts"]]
    subjects.append({"name": "events.ndjson", "digest": {"sha256": bundle["events"]["sha256"]}})
    network = bundle.get("network") or {"mode": "none"}  # bundles written before egress: none
    if network["mode"] != "none":
        subjects.append({"name": "network.ndjson", "digest": {"sha256": network["logSha256"]}})
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {"buildDefinition": _build_definition(run), "runDetails": _details(bundle)},
    }


def _build_definition(run: Run) -> dict:
    dependencies = [
        {"name": run.archive_filename or "archive.tar.gz", "digest": {"sha256": run.archive_sha256}}
    ]
    if run.image_digest:
        dependencies.append(_image_dependency(run))
    limits = dict(run.limits or {"timeoutSeconds": run.timeout_seconds})
    return {
        "buildType": BUILD_TYPE,
        "externalParameters": {
            "command": run.command,
            "template": run.template,
            "artifactPaths": list(run.artifact_paths),
            "timeoutSeconds": run.timeout_seconds,
            # Only the names: values may be secrets, and the Statement is public proof.
            "envKeys": sorted(run.env),
        },
        "internalParameters": {"limits": limits, "network": bool(limits.get("network", False))},
        # Every successful download through the egress proxy, by URL and body digest.
        "resolvedDependencies": dependencies + downloads(run.id),
    }


def _image_dependency(run: Run) -> dict:
    image = {
        "uri": f"docker-image://{run.image}",
        "digest": {"sha256": run.image_digest.removeprefix("sha256:")},
    }
    version = run.template_version
    if version is not None and version.image_digest == run.image_digest and version.registry_digest:
        # The registry's manifest digest names the same image as pushed and pulled.
        image["annotations"] = {
            "registryRef": version.registry_ref,
            "registryDigest": version.registry_digest,
        }
    return image


def _details(bundle: dict) -> dict:
    times = bundle["timestamps"]
    return {
        "builder": {"id": settings.CROWNEST_BUILDER_ID},
        "metadata": {
            "invocationId": bundle["runId"],
            "startedOn": times["startedAt"] or times["createdAt"],
            "finishedOn": times["terminalAt"],
        },
        "byproducts": [
            {
                "name": "outcome",
                "mediaType": "application/json",
                "annotations": {
                    "runId": bundle["runId"],
                    "status": bundle["status"],
                    "exitCode": bundle["exitCode"],
                    "failureReason": bundle["failureReason"],
                    "lastSeq": bundle["events"]["lastSeq"],
                },
            }
        ],
    }


def envelope_sign(payload: bytes, key: SigningKey) -> bytes:
    """The DSSE envelope, as the exact bytes that are stored, served and hashed."""
    signature = key.sign(pae(PAYLOAD_TYPE, payload))
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": key.keyid, "sig": base64.b64encode(signature).decode()}],
    }
    return canonical(envelope)


def envelope_digest(envelope: bytes | str) -> str:
    data = envelope.encode() if isinstance(envelope, str) else envelope
    return hashlib.sha256(data).hexdigest()


def sigstore_bundle(envelope: dict) -> dict:
    """The same envelope as a Sigstore bundle v0.3: no transparency log entry, the public key's
    keyid as the hint (trust comes from the key alone)."""
    keyid = envelope["signatures"][0]["keyid"]
    return {
        "mediaType": SIGSTORE_MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": {"hint": keyid},
            "tlogEntries": [],
            "timestampVerificationData": {},
        },
        "dsseEnvelope": envelope,
    }
