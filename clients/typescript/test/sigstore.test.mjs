// scripts/sigstore-verify.mjs (@sigstore/verify, key-only trust) on Sigstore v0.3 bundles built
// here per docs/evidence.md (no server).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { envelopeFor, makeKey, makeRun, sigstoreBundle } from "./evidence-fixture.mjs";

const SCRIPT = fileURLToPath(new URL("../scripts/sigstore-verify.mjs", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "crownest-sigstore-"));
const KEY = makeKey();
const OTHER = makeKey();
let n = 0;

function run(bundle, keyText = KEY.pem) {
  const b = join(dir, `bundle${++n}.json`), k = join(dir, `key${n}.pem`);
  writeFileSync(b, typeof bundle === "string" ? bundle : JSON.stringify(bundle));
  writeFileSync(k, keyText);
  const out = spawnSync(process.execPath, [SCRIPT, b, k], { encoding: "utf8" });
  return { code: out.status, stdout: out.stdout, stderr: out.stderr };
}

const good = () => {
  const { envelope } = makeRun({ key: KEY });
  return sigstoreBundle(envelope, KEY.keyid);
};

test("a correct bundle verifies with the PEM key, or with the evidence-keys list", () => {
  const ok = run(good());
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, "verified\n");
  const list = run(good(), JSON.stringify([OTHER.entry, { ...KEY.entry, retiredAt: "2025-06-01T00:00:00Z" }]));
  assert.equal(list.code, 0, list.stderr);
  assert.equal(list.stdout, "verified\n");
});

test("a tampered payload is refused", () => {
  const bundle = good();
  const payload = Buffer.from(bundle.dsseEnvelope.payload, "base64");
  payload[payload.indexOf("succeeded")] ^= 1; // still JSON-ish bytes; the signature no longer fits
  bundle.dsseEnvelope.payload = payload.toString("base64");
  const out = run(bundle);
  assert.equal(out.code, 1);
  assert.equal(out.stdout, "");
  assert.match(out.stderr, /SIGNATURE_ERROR: signature verification failed/);
});

test("a tampered signature or payloadType is refused", () => {
  const bundle = good();
  const sig = Buffer.from(bundle.dsseEnvelope.signatures[0].sig, "base64");
  sig[sig.length - 1] ^= 1;
  bundle.dsseEnvelope.signatures[0].sig = sig.toString("base64");
  assert.match(run(bundle).stderr, /SIGNATURE_ERROR/);
  const typed = good();
  typed.dsseEnvelope.payloadType = "application/json"; // part of the PAE
  assert.match(run(typed).stderr, /SIGNATURE_ERROR/);
});

test("another key, or a hint naming no trusted key, is refused", () => {
  const wrongKey = run(good(), OTHER.pem);
  assert.equal(wrongKey.code, 1);
  assert.match(wrongKey.stderr, new RegExp(`PUBLIC_KEY_ERROR: key not found: ${KEY.keyid}`));
  const signedByOther = sigstoreBundle(envelopeFor(makeRun({ key: KEY }).statement, OTHER, { keyid: KEY.keyid }), KEY.keyid);
  assert.match(run(signedByOther).stderr, /SIGNATURE_ERROR/);
  const keyidMismatch = good();
  keyidMismatch.dsseEnvelope.signatures[0].keyid = OTHER.keyid;
  assert.match(run(keyidMismatch).stderr, /keyid .* differs from publicKey.hint/);
});

test("a malformed bundle is refused by @sigstore/bundle's validation", () => {
  const two = good();
  two.dsseEnvelope.signatures.push(two.dsseEnvelope.signatures[0]);
  assert.match(run(two).stderr, /invalid bundle \(content\.dsseEnvelope\.signatures\)/);
  const noMaterial = good();
  delete noMaterial.verificationMaterial.publicKey;
  assert.match(run(noMaterial).stderr, /verificationMaterial\.content/);
  assert.equal(run("{").code, 1);
});
