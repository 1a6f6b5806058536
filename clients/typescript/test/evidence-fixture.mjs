// Builds a run's evidence exactly as docs/evidence.md specifies, with node:crypto: a P-256 key,
// events.ndjson, the in-toto Statement (RFC 8785 JSON), its DSSE envelope, the Evidence Bundle
// and the Sigstore v0.3 form. No server needed.
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import canonicalize from "canonicalize";

export const sha256 = (data) => createHash("sha256").update(data).digest("hex");

/** RFC 8785 (JCS), by the npm `canonicalize` package: an implementation the SDK does not share. */
export const canonical = (value) => canonicalize(value);

export function makeKey({ retiredAt = null } = {}) {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const der = publicKey.export({ type: "spki", format: "der" });
  const pem = publicKey.export({ type: "spki", format: "pem" });
  const keyid = sha256(der);
  return {
    privateKey, publicKey, pem, keyid,
    entry: { keyid, algorithm: "ecdsa-p256-sha256", publicKeyPem: pem, createdAt: "2025-01-01T00:00:00Z", retiredAt },
  };
}

export function pae(payloadType, payload) {
  const type = Buffer.from(payloadType, "utf8");
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/** Sign the Statement (or raw payload bytes) into a DSSE envelope; the sig is DER (node's default). */
export function envelopeFor(statement, key, { payloadType = "application/vnd.in-toto+json", keyid = key.keyid } = {}) {
  const payload = Buffer.isBuffer(statement) ? statement : Buffer.from(canonical(statement), "utf8");
  const sig = sign("sha256", pae(payloadType, payload), key.privateKey);
  return { payloadType, payload: payload.toString("base64"), signatures: [{ keyid, sig: sig.toString("base64") }] };
}

/** One events.ndjson line: the event's JCS bytes, then \n. */
export const eventLine = (e) => canonical({ seq: e.seq, type: e.type, timestamp: e.timestamp, data: e.data }) + "\n";
export const ndjson = (events) => events.map(eventLine).join("");

/**
 * A whole run's evidence. Options: runId, status, exitCode, failureReason, files {path: content},
 * key, events (to override the event list), sign (false: no envelope).
 */
export function makeRun(opts = {}) {
  const {
    runId = "wr_A", status = "succeeded", exitCode = 0, failureReason = null, key = makeKey(),
    files = { "dist/app.js": "console.log('héllo ✓');\n", "dist/readme.txt": "built\n" },
  } = opts;
  const ts = (s) => `2025-01-02T03:04:${String(s).padStart(2, "0")}.000000Z`;
  const artifacts = Object.entries(files).map(([path, content], i) => {
    const bytes = Buffer.from(content);
    return { id: `ar_${runId}_${i}`, path, sizeBytes: bytes.length, sha256: sha256(bytes) };
  });
  const events = opts.events ?? [
    { seq: 1, type: "status", timestamp: ts(1), data: { status: "queued" } },
    { seq: 2, type: "status", timestamp: ts(2), data: { status: "running" } },
    { seq: 3, type: "stdout", timestamp: ts(3), data: { text: "héllo ✓ \"quoted\"\n" } },
    { seq: 4, type: "stderr", timestamp: ts(4), data: { text: "warn\n" } },
    ...artifacts.map((a, i) => ({ seq: 5 + i, type: "artifact_collected", timestamp: ts(5 + i), data: { id: a.id, path: a.path, sizeBytes: a.sizeBytes, sha256: a.sha256 } })),
    {
      seq: 5 + artifacts.length, type: "terminal", timestamp: ts(9),
      data: { status, exitCode, failureReason, durationSeconds: 1.5, artifactIds: artifacts.map((a) => a.id) },
    },
  ];
  const eventsText = ndjson(events);
  const eventsSha = sha256(Buffer.from(eventsText, "utf8"));
  const terminal = events.at(-1);
  const lastSeq = terminal.seq;
  const statement = {
    _type: "https://in-toto.io/Statement/v1",
    subject: [
      ...artifacts.map((a) => ({ name: a.path, digest: { sha256: a.sha256 } })),
      { name: "events.ndjson", digest: { sha256: eventsSha } },
    ],
    predicateType: "https://slsa.dev/provenance/v1",
    predicate: {
      buildDefinition: {
        buildType: "https://crownest.dev/workspace-run/v1",
        externalParameters: { command: "npm ci && npm test", template: "python-node", artifactPaths: ["dist/"], timeoutSeconds: 600, envKeys: ["CI"] },
        internalParameters: { limits: { memory: "1g", cpus: 1.5, pids: 256 }, network: false },
        resolvedDependencies: [
          { name: "repo.tgz", digest: { sha256: sha256("archive") } },
          { uri: "docker-image://crownest/python-node:1", digest: { sha256: sha256("image") } },
        ],
      },
      runDetails: {
        builder: { id: "https://crownest.test/builder" },
        metadata: { invocationId: runId, startedOn: ts(2).replace(".000000", ""), finishedOn: ts(9).replace(".000000", "") },
        byproducts: [{
          name: "outcome", mediaType: "application/json",
          annotations: { runId, status, exitCode, failureReason, lastSeq },
        }],
      },
    },
  };
  const envelope = opts.sign === false ? null : envelopeFor(statement, key);
  const envelopeBytes = envelope && Buffer.from(canonical(envelope));
  const bundle = {
    schema: "crownest.evidence/v1", canonicalization: "RFC8785", runId, status, exitCode, failureReason, command: "npm ci && npm test",
    template: { name: "python-node", image: "crownest/python-node:1", imageDigest: `sha256:${sha256("image")}` },
    timestamps: { createdAt: ts(0), terminalAt: ts(9), evidenceWrittenAt: ts(10) },
    source: { archive: { sha256: sha256("archive"), sizeBytes: 7, filename: "repo.tgz" } },
    artifacts, artifactIds: artifacts.map((a) => a.id),
    events: { count: events.length, lastSeq, sha256: eventsSha },
    terminalEvent: terminal, sandbox: { kept: false }, limits: { memory: "1g" },
    attestation: {
      url: `/api/v1/workspace-runs/${runId}/evidence/attestation`,
      sigstoreBundleUrl: `/api/v1/workspace-runs/${runId}/evidence/sigstore-bundle`,
      keyid: key.keyid, sha256: envelopeBytes ? sha256(envelopeBytes) : null,
    },
  };
  return {
    key, statement, envelope, envelopeBytes, bundle, events, eventsText,
    files: Object.fromEntries(Object.entries(files).map(([p, c]) => [p, Buffer.from(c)])),
  };
}

/** The Sigstore bundle v0.3 form of an envelope (docs/evidence.md). */
export function sigstoreBundle(envelope, hint) {
  return {
    mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
    verificationMaterial: { publicKey: { hint }, tlogEntries: [], timestampVerificationData: {} },
    dsseEnvelope: envelope,
  };
}
