// verifyEvidence against evidence built here exactly per docs/evidence.md (no server).
import { test } from "node:test";
import assert from "node:assert/strict";
import { sign, verify } from "node:crypto";
import { EVIDENCE_CHECKS, derToRawSignature, evidenceKeyId, preAuthEncoding, verifyEvidence } from "../dist/index.js";
import { canonical, envelopeFor, makeKey, makeRun, ndjson, pae, sha256 } from "./evidence-fixture.mjs";

const KEY = makeKey();
const OTHER = makeKey();
const clone = (v) => JSON.parse(JSON.stringify(v));

/** verifyEvidence on a run (by default: envelope object, events as bytes, keys list, all files). */
const check = (run, over = {}) => verifyEvidence({
  bundle: run.bundle, envelope: run.envelope, events: Buffer.from(run.eventsText, "utf8"),
  keys: [KEY.entry], artifacts: run.files, ...over,
});

function refused(result, check, message) {
  assert.equal(result.ok, false, JSON.stringify(result.checks));
  assert.equal(result.failure.check, check);
  if (message instanceof RegExp) assert.match(result.failure.message, message);
  else assert.equal(result.failure.message, message);
  const i = EVIDENCE_CHECKS.indexOf(check);
  assert.deepEqual(result.checks.map((c) => c.status),
    EVIDENCE_CHECKS.map((_, j) => (j < i ? "passed" : j === i ? "failed" : "skipped")));
}

test("a correct run verifies: all seven checks, in order", async () => {
  const run = makeRun({ key: KEY });
  const result = await check(run);
  assert.equal(result.ok, true, JSON.stringify(result.failure));
  assert.equal(result.failure, undefined);
  assert.deepEqual(result.checks.map((c) => [c.check, c.status]), EVIDENCE_CHECKS.map((c) => [c, "passed"]));
  assert.equal(result.keyid, KEY.keyid);
  assert.equal(result.retiredKey, undefined);
  assert.equal(result.statement.predicate.runDetails.metadata.invocationId, "wr_A");
  assert.match(result.checks[0].message, new RegExp(`signed by key ${KEY.keyid}`));
  assert.equal(result.checks.at(-1).message, "2 checked");
  assert.equal(result.runId, "wr_A");
  assert.deepEqual(result.notes, []);
});

test("input forms: envelope bytes, events string, a pinned PEM, a Map of files", async () => {
  const run = makeRun({ key: KEY });
  const result = await check(run, {
    envelope: new Uint8Array(run.envelopeBytes), events: run.eventsText, keys: KEY.pem,
    artifacts: new Map([["./dist/app.js", run.files["dist/app.js"]]]),
  });
  assert.equal(result.ok, true, JSON.stringify(result.failure));
  assert.deepEqual(result.notes, ["artifact dist/readme.txt not downloaded, not checked"]);
  assert.equal(result.checks.at(-1).message, "1 checked, 1 not checked");
  // re-serialised envelope bytes: still verifies (the signature is inside), noted
  const other = await check(run, { envelope: Buffer.from(JSON.stringify(run.envelope, null, 1)) });
  assert.equal(other.ok, true);
  assert.match(other.notes[0], /^attestation\.dsse\.json is not byte for byte the envelope the bundle names/);
});

test("no artifact files: verifies, the artifacts reported as not checked", async () => {
  const run = makeRun({ key: KEY });
  const result = await check(run, { artifacts: undefined });
  assert.equal(result.ok, true);
  assert.deepEqual(result.notes, ["artifact dist/app.js not downloaded, not checked", "artifact dist/readme.txt not downloaded, not checked"]);
  assert.equal(result.checks.at(-1).message, "0 checked, 2 not checked");
});

test("a failed run with no artifacts verifies too", async () => {
  const run = makeRun({ key: KEY, status: "failed", exitCode: 2, failureReason: "nonzero_exit", files: {} });
  const result = await check(run);
  assert.equal(result.ok, true, JSON.stringify(result.failure));
  assert.equal(result.checks[3].message, "failed, exit code 2");
});

test("a flipped artifact byte is refused", async () => {
  const run = makeRun({ key: KEY });
  const bad = Buffer.from(run.files["dist/app.js"]);
  bad[3] ^= 1;
  refused(await check(run, { artifacts: { ...run.files, "dist/app.js": bad } }),
    "artifacts", "artifact dist/app.js: sha256 differs from the signed subject");
});

test("an artifact's sha256 edited in the bundle is refused", async () => {
  const run = makeRun({ key: KEY });
  const bundle = clone(run.bundle);
  bundle.artifacts[1].sha256 = "0".repeat(64);
  refused(await check(run, { bundle }), "subjects", "artifact dist/readme.txt: bundle sha256 differs from the signed subject");
  const fewer = clone(run.bundle);
  fewer.artifacts.pop();
  refused(await check(run, { bundle: fewer }), "subjects", "subject dist/readme.txt is signed but is not an artifact of the bundle");
});

test("an event removed from events.ndjson is refused", async () => {
  const run = makeRun({ key: KEY });
  const events = ndjson(run.events.filter((e) => e.seq !== 2));
  refused(await check(run, { events }), "events", "events.ndjson: sha256 differs from the signed subject; seq 3 follows seq 1 (gap)");
});

test("events reordered in events.ndjson are refused", async () => {
  const run = makeRun({ key: KEY });
  const ev = [...run.events];
  [ev[1], ev[2]] = [ev[2], ev[1]];
  refused(await check(run, { events: ndjson(ev) }), "events",
    "events.ndjson: sha256 differs from the signed subject; seq 3 follows seq 1 (out of order)");
  refused(await check(run, { events: ndjson([...run.events.slice(0, -1).reverse(), run.events.at(-1)]) }), "events",
    "events.ndjson: sha256 differs from the signed subject; starts at seq 6, not 1 (out of order)");
});

test("an event edited in events.ndjson is refused", async () => {
  const run = makeRun({ key: KEY });
  const events = run.eventsText.replace("warn", "WARN");
  refused(await check(run, { events }), "events", "events.ndjson: sha256 differs from the signed subject");
  const crlf = run.eventsText.replace(/\n/g, "\r\n"); // the bytes matter, not the JSON
  refused(await check(run, { events: crlf }), "events", "events.ndjson: sha256 differs from the signed subject");
  refused(await check(run, { events: run.eventsText.slice(0, -1) }), "events", "events.ndjson: sha256 differs from the signed subject; the last line has no newline");
});

test("a signed but malformed event log is refused with what is wrong", async () => {
  // What a buggy server could sign: the digest matches, the shape does not.
  const base = makeRun({ key: KEY }).events;
  const cases = [
    [base.filter((e) => e.seq !== 3), "events.ndjson: seq 4 follows seq 2 (gap)"],
    [[base[0], base[2], base[1], ...base.slice(3)], "events.ndjson: seq 3 follows seq 1 (out of order)"],
    [[base[0], base[1], base[1], ...base.slice(2)], "events.ndjson: seq 2 follows seq 2 (repeated)"],
    [base.slice(0, -1), "events.ndjson: no terminal event"],
    [[...base.slice(0, -1).map((e) => e.seq === 2 ? { ...e, type: "terminal", data: base.at(-1).data } : e), base.at(-1)],
      "events.ndjson: a second terminal event (seq 7) after seq 2"],
    [base.map((e) => e.seq === 7 ? { ...e, type: "stdout" } : e.seq === 6 ? { ...e, type: "terminal", data: base.at(-1).data } : e),
      "events.ndjson: the terminal event (seq 6) is not last (seq 7)"],
    [base.map((e) => ({ ...e, seq: e.seq + 1 })), "events.ndjson: starts at seq 2, not 1"],
  ];
  for (const [events, message] of cases) {
    const run = makeRun({ key: KEY, events });
    refused(await check(run), "events", message);
  }
  const run = makeRun({ key: KEY });
  const bundle = clone(run.bundle);
  bundle.terminalEvent.data.durationSeconds = 99;
  refused(await check(run, { bundle }), "events", "the terminal event (seq 7) differs from bundle.terminalEvent");
  const counted = clone(run.bundle);
  counted.events.count = 8;
  refused(await check(run, { bundle: counted }), "events", "events.ndjson has 7 events but the bundle's events.count is 8");
});

test("exitCode edited in the bundle is refused", async () => {
  const run = makeRun({ key: KEY });
  refused(await check(run, { bundle: { ...run.bundle, exitCode: 1 } }), "outcome",
    "bundle exitCode 1 differs from the signed outcome 0");
});

test("status edited in the bundle is refused", async () => {
  const run = makeRun({ key: KEY });
  refused(await check(run, { bundle: { ...run.bundle, status: "failed" } }), "outcome",
    "bundle status failed differs from the signed outcome succeeded");
  refused(await check(run, { bundle: { ...run.bundle, failureReason: "timeout" } }), "outcome",
    "bundle failureReason timeout differs from the signed outcome null");
  refused(await check(run, { bundle: { ...run.bundle, events: { ...run.bundle.events, lastSeq: 9 } } }), "outcome",
    "bundle events.lastSeq 9 differs from the signed outcome lastSeq 7");
});

test("the attestation of run A with the files of run B is refused", async () => {
  const a = makeRun({ key: KEY, runId: "wr_A" });
  const b = makeRun({ key: KEY, runId: "wr_B", files: { "dist/app.js": "console.log('B');\n", "dist/readme.txt": "built\n" } });
  refused(await check(b, { envelope: a.envelope }), "run", "attestation is for run wr_A but the bundle is run wr_B");
  // run B's bundle relabelled as run A: the signed subjects refuse its artifacts, then its events
  const bundle = { ...clone(b.bundle), runId: "wr_A" };
  refused(await check(b, { envelope: a.envelope, bundle }), "subjects", "artifact dist/app.js: bundle sha256 differs from the signed subject");
  // run A's bundle with run B's files and event log
  refused(await check(a, { events: b.eventsText, artifacts: b.files }), "events", "events.ndjson: sha256 differs from the signed subject");
  refused(await check(a, { artifacts: b.files }), "artifacts", "artifact dist/app.js: sha256 differs from the signed subject");
});

test("a signature by a key that is not trusted is refused", async () => {
  const run = makeRun({ key: OTHER });
  refused(await check(run), "signature", `signed by an unknown key ${OTHER.keyid}`);
  refused(await check(run, { keys: KEY.pem }), "signature", `signed by an unknown key ${OTHER.keyid}`);
  // claiming a trusted keyid does not help: the signature must verify with that key
  const forged = { ...run.envelope, signatures: [{ ...run.envelope.signatures[0], keyid: KEY.keyid }] };
  refused(await check(run, { envelope: forged }), "signature", `signature does not verify with key ${KEY.keyid}`);
});

test("a retired key still verifies (noted); an unknown key is still refused", async () => {
  const retired = { ...KEY.entry, retiredAt: "2025-06-01T00:00:00Z" };
  const run = makeRun({ key: KEY });
  const result = await check(run, { keys: [OTHER.entry, retired] });
  assert.equal(result.ok, true, JSON.stringify(result.failure));
  assert.equal(result.retiredKey, true);
  assert.match(result.checks[0].message, new RegExp(`^signed by retired key ${KEY.keyid}$`));
  assert.deepEqual(result.notes, [`signed by retired key ${KEY.keyid} (retired 2025-06-01T00:00:00Z); it still verifies`]);
  const unknown = makeRun({ key: makeKey() });
  refused(await check(unknown, { keys: [OTHER.entry, retired] }), "signature", /^signed by an unknown key [0-9a-f]{64}$/);
});

test("the keyid is the sha256 of the key, not what a key list claims", async () => {
  assert.equal(await evidenceKeyId(KEY.pem), KEY.keyid);
  const run = makeRun({ key: KEY });
  const lying = { ...OTHER.entry, keyid: KEY.keyid }; // OTHER's key listed under KEY's keyid
  const result = await check(run, { keys: [KEY.entry, lying] });
  assert.equal(result.ok, false);
  assert.deepEqual(result.failure, { check: "inputs", message: `key 1 is listed as ${KEY.keyid} but its public key is ${OTHER.keyid}` });
  assert.deepEqual(result.checks.map((c) => c.status), EVIDENCE_CHECKS.map(() => "skipped"));
  const rsa = (await import("node:crypto")).generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "pem" });
  assert.deepEqual((await check(run, { keys: rsa })).failure, { check: "inputs", message: "key 0: not an ECDSA P-256 public key" });
  assert.deepEqual((await check(run, { keys: "" })).failure, { check: "inputs", message: "keys: no PEM public key given" });
  assert.deepEqual((await check(run, { keys: [] })).failure, { check: "signature", message: `signed by an unknown key ${KEY.keyid}` });
  assert.deepEqual((await check(run, { bundle: { ...run.bundle, schema: "x" } })).failure,
    { check: "inputs", message: "evidence.json: schema is x, not crownest.evidence/v1" });
});

test("a tampered payload or payloadType is refused", async () => {
  const run = makeRun({ key: KEY });
  const statement = clone(run.statement);
  statement.predicate.runDetails.byproducts[0].annotations.exitCode = 1;
  const payload = Buffer.from(canonical(statement)).toString("base64");
  refused(await check(run, { envelope: { ...run.envelope, payload } }), "signature", `signature does not verify with key ${KEY.keyid}`);
  const typed = envelopeFor(run.statement, KEY, { payloadType: "application/json" });
  refused(await check(run, { envelope: typed }), "signature", "payloadType application/json is not application/vnd.in-toto+json");
  refused(await check(run, { envelope: { ...run.envelope, signatures: [] } }), "signature", "attestation has no signatures");
  refused(await check(run, { envelope: { ...run.envelope, payload: "%%%" } }), "signature", "attestation payload is not valid base64");
});

test("statement type and predicate type are checked", async () => {
  const run = makeRun({ key: KEY });
  const statement = { ...clone(run.statement), predicateType: "https://slsa.dev/provenance/v0.2" };
  refused(await check(run, { envelope: envelopeFor(statement, KEY) }), "statement",
    "predicateType https://slsa.dev/provenance/v0.2 is not https://slsa.dev/provenance/v1");
  const typed = { ...clone(run.statement), _type: "https://in-toto.io/Statement/v0.1" };
  refused(await check(run, { envelope: envelopeFor(typed, KEY) }), "statement",
    "_type https://in-toto.io/Statement/v0.1 is not https://in-toto.io/Statement/v1");
  const noOutcome = clone(run.statement);
  noOutcome.predicate.runDetails.byproducts = [];
  refused(await check(run, { envelope: envelopeFor(noOutcome, KEY) }), "run", "statement has no outcome byproduct");
});

test("DER signatures convert to the raw r||s that WebCrypto verifies", () => {
  const data = Buffer.from("x");
  const lengths = new Set();
  for (let i = 0; i < 300; i++) {
    const der = sign("sha256", data, KEY.privateKey);
    lengths.add(der.length);
    const raw = derToRawSignature(der);
    assert.equal(raw.length, 64);
    assert.ok(verify("sha256", data, { key: KEY.publicKey, dsaEncoding: "ieee-p1363" }, raw));
  }
  assert.ok(lengths.size >= 2, `DER lengths seen: ${[...lengths]}`); // short r/s and 0x00-padded ones
  assert.equal(derToRawSignature(Buffer.from("3006020101020101", "hex")).length, 64);
  assert.equal(derToRawSignature(Buffer.from("300602010102010100", "hex")), null); // trailing byte
  assert.equal(derToRawSignature(Buffer.from("3006020181020101", "hex")), null); // negative r
  assert.equal(derToRawSignature(Buffer.from("30070202000102010100", "hex")), null); // not minimal
  assert.deepEqual(Buffer.from(preAuthEncoding("t", Buffer.from("ab"))), pae("t", Buffer.from("ab")));
});

test("Client: the four evidence documents and verifyRun, against a stub HTTP server", async () => {
  const { createServer } = await import("node:http");
  const { Client, EvidenceDigestMismatch } = await import("../dist/index.js");
  const run = makeRun({ key: KEY });
  const sigstore = { mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json", dsseEnvelope: run.envelope };
  const seen = [];
  let notReady = 2; // the first requests answer 409 evidence_not_ready
  let digest = sha256(canonical(run.bundle)); // the server's X-Evidence-Sha256
  const routes = {
    "/api/v1/workspace-runs/wr_A/evidence": () => JSON.stringify(run.bundle),
    "/api/v1/workspace-runs/wr_A/evidence/attestation": () => run.envelopeBytes,
    "/api/v1/workspace-runs/wr_A/evidence/sigstore-bundle": () => JSON.stringify(sigstore),
    "/api/v1/workspace-runs/wr_A/events.ndjson": () => Buffer.from(run.eventsText),
    "/api/v1/evidence-keys": () => JSON.stringify([KEY.entry]),
    "/api/v1/artifacts/ar_wr_A_0/download": () => run.files["dist/app.js"],
    "/api/v1/artifacts/ar_wr_A_1/download": () => run.files["dist/readme.txt"],
  };
  const server = createServer((req, res) => {
    seen.push([req.url, req.headers.authorization]);
    if (notReady > 0 && req.url.endsWith("/evidence")) {
      notReady -= 1;
      res.writeHead(409, { "Content-Type": "application/json" });
      return res.end(JSON.stringify({ error: { code: "evidence_not_ready", message: "not yet", details: {} } }));
    }
    const route = routes[req.url];
    res.writeHead(route ? 200 : 404, req.url.endsWith("/evidence") ? { "X-Evidence-Sha256": digest } : {});
    res.end(route ? route() : "");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  try {
    const client = new Client({ baseUrl: `http://127.0.0.1:${server.address().port}/`, token: "cn_t" });
    const result = await client.verifyRun("wr_A", { downloadArtifacts: true });
    assert.equal(result.ok, true, JSON.stringify(result.failure));
    assert.equal(result.checks.at(-1).message, "2 checked");
    assert.deepEqual(result.notes, ["the keys came from the same server; pin a key for independent trust"]);
    const pinned = await client.verifyRun("wr_A", { keys: OTHER.pem });
    assert.equal(pinned.failure.message, `signed by an unknown key ${KEY.keyid}`);
    assert.deepEqual(await client.getAttestation("wr_A"), run.envelope);
    assert.deepEqual(Buffer.from(await client.getAttestationBytes("wr_A")), run.envelopeBytes);
    assert.equal(new TextDecoder().decode(await client.getEventsNdjson("wr_A")), run.eventsText);
    assert.deepEqual(await client.getSigstoreBundle("wr_A"), sigstore);
    assert.deepEqual(await client.getEvidenceKeys(), [KEY.entry]);
    assert.ok(seen.every(([, auth]) => auth === "Bearer cn_t"));
    assert.equal(seen.filter(([url]) => url.endsWith("/evidence")).length, 4); // 2 × 409, then 2 × 200
    // getEvidence re-hashes the bundle's JCS bytes: a digest that disagrees is refused.
    assert.deepEqual(await client.getEvidence("wr_A"), run.bundle);
    digest = sha256("something else");
    await assert.rejects(client.getEvidence("wr_A"), EvidenceDigestMismatch);
  } finally {
    server.close();
  }
});
