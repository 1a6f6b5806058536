"""Review input; reviews and keys as the API shows them (these serializers build the answers);
and the shapes of the stored evidence documents. The bundle, the DSSE envelope and the Sigstore
bundle are not built at read time: they are the stored, signed or hashed documents (written once,
by services.py and attestation.py), so their serializers only describe them in the schema."""

from rest_framework import serializers

from runs.http.public import (
    TERMINAL_CHOICES,
    Timestamp,
    blank_null,
    command_field,
    const,
    documented,
    named,
    nullable,
    run_event,
    sha256,
)
from runs.models import Run

from .canonical import JCS
from .models import Review
from .reviews import review_void

URI_REFERENCE = {"type": "string", "format": "uri-reference"}


@named("ReviewCreate")
class ReviewIn(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=Review.Verdict.choices)
    comment = serializers.CharField(
        required=False, allow_blank=True, max_length=10_000, trim_whitespace=False, default=""
    )

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"body": ["must be a JSON object"]})
        if "comment" in data and not isinstance(data["comment"], str):
            raise serializers.ValidationError({"comment": ["must be a string"]})
        return super().to_internal_value(data)


@named("Review")
class ReviewOut(serializers.Serializer):
    id = serializers.IntegerField()
    runId = serializers.CharField(source="run_id")
    reviewer = serializers.CharField(source="reviewer.get_username")
    verdict = serializers.ChoiceField(choices=Review.Verdict.choices)
    comment = serializers.CharField(allow_blank=True)
    evidenceSha256 = sha256(source="evidence_sha256")
    attestationSha256 = blank_null(
        serializers.CharField, source="attestation_sha256", help_text="the attestation judged"
    )
    void = serializers.SerializerMethodField(
        help_text="the attestation it judged is no longer stored"
    )
    createdAt = Timestamp(source="created_at")

    def get_void(self, review: Review) -> bool:
        return review_void(review)


@named("EvidenceKey")
class EvidenceKeyOut(serializers.Serializer):
    keyid = sha256(help_text="sha256 of the public key's DER")
    algorithm = const("ecdsa-p256-sha256")
    publicKeyPem = serializers.CharField(source="public_key_pem")
    createdAt = Timestamp(source="created_at")
    retiredAt = nullable(Timestamp, source="retired_at", help_text="retired keys still verify")


@named("DsseSignature")
class SignatureOut(serializers.Serializer):
    keyid = serializers.CharField()
    sig = serializers.CharField(help_text="base64 ECDSA P-256 signature over the DSSE PAE")


@named("DsseEnvelope")
class EnvelopeOut(serializers.Serializer):
    payloadType = const("application/vnd.in-toto+json")
    payload = serializers.CharField(help_text="base64 of the in-toto Statement v1 (JSON)")
    signatures = SignatureOut(many=True)


@named("SigstorePublicKey")
class SigstoreKeyOut(serializers.Serializer):
    hint = serializers.CharField(help_text="the keyid")


@named("SigstoreVerificationMaterial")
class SigstoreMaterialOut(serializers.Serializer):
    publicKey = SigstoreKeyOut()
    tlogEntries = serializers.ListField(child=serializers.DictField(), max_length=0)
    timestampVerificationData = serializers.DictField()


@named("SigstoreBundle")
class SigstoreBundleOut(serializers.Serializer):
    mediaType = const("application/vnd.dev.sigstore.bundle.v0.3+json")
    verificationMaterial = SigstoreMaterialOut()
    dsseEnvelope = EnvelopeOut()


def _fields(names, field=lambda: nullable(serializers.DateTimeField)) -> dict:
    return {name: field() for name in names}


TIMESTAMPS = named("EvidenceTimestamps")(
    type(
        "EvidenceTimestamps",
        (serializers.Serializer,),
        _fields(
            [
                "createdAt",
                "archiveVerifiedAt",
                "queuedAt",
                "startedAt",
                "commandStartedAt",
                "commandFinishedAt",
                "terminalAt",
                "evidenceWrittenAt",
            ]
        ),
    )
)


@named("EvidenceTemplate")
class TemplateRef(serializers.Serializer):
    name = serializers.CharField()
    image = nullable(serializers.CharField)
    imageDigest = nullable(serializers.CharField)
    registryRef = nullable(
        serializers.CharField, required=False, help_text="where the registry holds the image"
    )
    registryDigest = nullable(
        serializers.CharField,
        required=False,
        help_text="the registry's manifest digest of the image (not the image id)",
    )


@named("EvidenceArchive")
class SourceArchive(serializers.Serializer):
    sha256 = sha256()
    sizeBytes = serializers.IntegerField(min_value=1)
    filename = nullable(serializers.CharField)
    uploadMethod = nullable(serializers.CharField)
    fileCount = nullable(serializers.IntegerField)
    expandedBytes = nullable(serializers.IntegerField)


@named("EvidenceSource")
class Source(serializers.Serializer):
    archive = SourceArchive()
    submittedBy = serializers.CharField()
    team = nullable(serializers.CharField)
    client = nullable(serializers.CharField)


@named("EvidenceArtifact")
class ArtifactRef(serializers.Serializer):
    id = serializers.CharField()
    path = serializers.CharField()
    sizeBytes = serializers.IntegerField(min_value=0)
    sha256 = sha256()


@named("EvidenceEvents")
class EventsSummary(serializers.Serializer):
    count = serializers.IntegerField(min_value=1)
    lastSeq = serializers.IntegerField(min_value=1)
    sha256 = sha256()


@named("EvidenceSandbox")
class SandboxRef(serializers.Serializer):
    id = nullable(serializers.CharField)
    kept = serializers.BooleanField()


@named("EvidenceAttestationRef")
class AttestationRef(serializers.Serializer):
    # Absolute with CROWNEST_PUBLIC_URL set; otherwise the path (the bundle is written by the
    # worker, which knows no request's host).
    url = documented(serializers.CharField, URI_REFERENCE)
    sigstoreBundleUrl = documented(serializers.CharField, URI_REFERENCE)
    keyid = sha256()
    sha256 = sha256()


@named("EvidenceNetwork")
class NetworkRef(serializers.Serializer):
    mode = serializers.ChoiceField(choices=["none", "allowlist", "replay"])
    allow = serializers.ListField(child=serializers.CharField())
    replayOf = nullable(serializers.CharField)
    requests = serializers.IntegerField(min_value=0)
    refused = serializers.IntegerField(min_value=0)
    bytes = serializers.IntegerField(min_value=0)
    logSha256 = sha256()


@named("Evidence")
class EvidenceOut(serializers.Serializer):
    schema = const("crownest.evidence/v1")
    canonicalization = documented(
        serializers.CharField,
        {"type": "string", "const": JCS},
        required=False,
        help_text="RFC 8785 (JCS): this bundle's digest (X-Evidence-Sha256) and its events.ndjson "
        "lines are JCS bytes; absent on bundles written before (docs/evidence.md)",
    )
    runId = serializers.CharField()
    status = serializers.ChoiceField(choices=TERMINAL_CHOICES)
    exitCode = nullable(serializers.IntegerField)
    failureReason = nullable(serializers.ChoiceField, choices=Run.Failure.choices)
    command = command_field()
    template = TemplateRef()
    timestamps = TIMESTAMPS()
    source = Source()
    artifacts = ArtifactRef(many=True)
    artifactIds = serializers.ListField(child=serializers.CharField())
    events = EventsSummary()
    terminalEvent = run_event()
    sandbox = SandboxRef()
    limits = serializers.DictField(help_text="the limits the run had (docs/api.md)")
    network = NetworkRef(
        required=False, help_text="absent on bundles written before runs had network modes"
    )
    attestation = AttestationRef(
        required=False, help_text="absent when the bundle was written before a key existed"
    )
