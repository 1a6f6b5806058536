#!/usr/bin/env node
// Verify a CrowNest Sigstore bundle (v0.3, dsseEnvelope, verificationMaterial.publicKey.hint =
// keyid, no tlog entries, no timestamps) with @sigstore/verify, trusting only the given public key.
//
//   node scripts/sigstore-verify.mjs BUNDLE.json KEY.pem
//   node scripts/sigstore-verify.mjs BUNDLE.json evidence-keys.json   (the GET /api/v1/evidence-keys list)
//
// Exit 0 and print "verified"; exit 1 with the error on stderr when it does not verify; 2 on
// usage errors. Used by the server's test suite (run `npm ci` in clients/typescript first).
//
// How @sigstore/verify (3.1.1) is driven, from its source:
// - bundleFromJSON (@sigstore/bundle) parses and validates the bundle: for v0.3 it needs a
//   mediaType, a dsseEnvelope with a payload and exactly one signature, verificationMaterial
//   with its content (publicKey) and a tlogEntries array (may be empty).
// - toSignedEntity turns it into {signature, key: {hint}, tlogEntries, timestamps}; timestamps
//   come only from tlog entries with an integratedTime and from rfc3161Timestamps, so here none.
// - toTrustMaterial(root, keys): root with no CAs, TSAs, tlogs or CT logs; keys = {keyid:
//   {rawBytes: SPKI DER}} is looked up by the bundle's hint ("key not found: <hint>" otherwise).
//   No validFor: with no timestamps it is never consulted.
// - new Verifier(trust, {tlogThreshold: 0, timestampThreshold: 0}): the defaults (1 each) would
//   demand a tlog entry and a verified timestamp; ctlogThreshold only applies to certificates.
// - verify() checks ECDSA (node:crypto, the key's default digest SHA-256, DER signature) over the
//   DSSE PAE of payloadType and the payload bytes; it reads only signatures[0].sig, never its
//   keyid, so this script also checks that keyid equals the hint (CrowNest's contract).
import { readFileSync } from "node:fs";
import { createHash, createPublicKey } from "node:crypto";
import { bundleFromJSON } from "@sigstore/bundle";
import { Verifier, toSignedEntity, toTrustMaterial } from "@sigstore/verify";

function keysFrom(text) {
  const pems = text.trimStart().startsWith("[")
    ? JSON.parse(text).map((k) => k.publicKeyPem)
    : text.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? [];
  if (pems.length === 0) throw new Error("no PEM public key in the key file");
  const keys = {};
  for (const pem of pems) {
    const der = createPublicKey(pem).export({ type: "spki", format: "der" });
    keys[createHash("sha256").update(der).digest("hex")] = { rawBytes: der };
  }
  return keys;
}

const [bundlePath, keyPath] = process.argv.slice(2);
if (!bundlePath || !keyPath) {
  console.error("usage: sigstore-verify.mjs BUNDLE.json KEY.pem|evidence-keys.json");
  process.exit(2);
}
try {
  const json = JSON.parse(readFileSync(bundlePath, "utf8"));
  const bundle = bundleFromJSON(json);
  const trust = toTrustMaterial(
    { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [] },
    keysFrom(readFileSync(keyPath, "utf8")),
  );
  const verifier = new Verifier(trust, { tlogThreshold: 0, timestampThreshold: 0 });
  verifier.verify(toSignedEntity(bundle));
  const hint = json.verificationMaterial?.publicKey?.hint;
  const keyid = json.dsseEnvelope?.signatures?.[0]?.keyid;
  if (keyid !== hint) throw new Error(`dsseEnvelope.signatures[0].keyid ${keyid} differs from publicKey.hint ${hint}`);
  console.log("verified");
} catch (err) {
  const fields = err?.fields ? ` (${err.fields.join(", ")})` : "";
  console.error(`not verified: ${err?.code ? err.code + ": " : ""}${err?.message ?? err}${fields}`);
  process.exit(1);
}
