#!/usr/bin/env node
// Verifies an evidence folder saved by `crownest run-archive --out DIR` with the TypeScript
// SDK's verifyEvidence, offline: node scripts/verify-dir.mjs DIR [KEY.pem]
// Prints "verified" (exit 0) or "not verified: <check>: <message>" (exit 1).
import { readFile } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { verifyEvidence } from "../dist/index.js";

const [dir, keyFile] = process.argv.slice(2);
if (!dir) {
  console.error("usage: verify-dir.mjs DIR [KEY.pem]");
  process.exit(2);
}
const root = resolve(dir);
const read = (name) => readFile(join(root, name));
const bundle = JSON.parse(await read("evidence.json"));
const keys = keyFile ? await readFile(keyFile, "utf8") : JSON.parse(await read("evidence-keys.json"));
const artifacts = {};
for (const a of bundle.artifacts ?? []) {
  const path = resolve(root, a.path);
  if (!path.startsWith(root + sep)) continue; // never read outside the folder
  try {
    artifacts[a.path] = new Uint8Array(await readFile(path));
  } catch {
    // not downloaded: verifyEvidence notes it
  }
}
const result = await verifyEvidence({
  bundle,
  envelope: new Uint8Array(await read("attestation.dsse.json")),
  events: new Uint8Array(await read("events.ndjson")),
  keys,
  artifacts,
});
for (const note of result.notes) console.log(`note: ${note}`);
if (result.ok) {
  console.log(`verified ${result.runId} (key ${result.keyid})`);
} else {
  console.log(`not verified: ${result.failure.check}: ${result.failure.message}`);
  process.exit(1);
}
