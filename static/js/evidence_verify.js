// Checks a run's signed attestation in the browser (docs/evidence.md, steps 1 to 6): the DSSE
// signature with WebCrypto against the served public key, then that the signed Statement, the
// Evidence Bundle and the event log agree. Nothing here trusts the server's word for the result.
(function () {
  "use strict";
  const PAYLOAD_TYPE = "application/vnd.in-toto+json";
  const enc = new TextEncoder();

  const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
  const sha256 = async (bytes) => hex(await crypto.subtle.digest("SHA-256", bytes));
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const pae = (type, body) => concat(enc.encode(`DSSEv1 ${enc.encode(type).length} ${type} ${body.length} `), body);
  const pemBody = (pem) => b64(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""));

  // ECDSA signatures are DER SEQUENCE{r, s}; WebCrypto wants r||s, 32 bytes each.
  function derToRaw(der) {
    let i = 2;
    if (der[0] !== 0x30) throw new Error("signature is not DER");
    if (der[1] & 0x80) i += der[1] & 0x7f;
    const out = new Uint8Array(64);
    for (const half of [0, 1]) {
      if (der[i] !== 0x02) throw new Error("signature is not DER");
      let len = der[i + 1];
      let start = i + 2;
      i = start + len;
      while (len > 32 && der[start] === 0) { start++; len--; }
      if (len > 32) throw new Error("signature integer too long");
      out.set(der.subarray(start, start + len), half * 32 + 32 - len);
    }
    return out;
  }

  class Failed extends Error {}
  const check = (ok, message) => { if (!ok) throw new Failed(message); };

  async function verifySignature(envelope, keys) {
    check(envelope.payloadType === PAYLOAD_TYPE, `payloadType is ${envelope.payloadType}`);
    const payload = b64(envelope.payload);
    for (const sig of envelope.signatures || []) {
      const key = keys.find((k) => k.keyid === sig.keyid);
      if (!key) continue;
      const spki = pemBody(key.publicKeyPem);
      check((await sha256(spki)) === key.keyid, `key ${key.keyid.slice(0, 16)}… does not hash to its keyid`);
      const pub = await crypto.subtle.importKey("spki", spki, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
      const ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, pub, derToRaw(b64(sig.sig)), pae(PAYLOAD_TYPE, payload));
      check(ok, `the signature does not verify with key ${key.keyid.slice(0, 16)}…`);
      return { key, statement: JSON.parse(new TextDecoder().decode(payload)) };
    }
    throw new Failed("signed by an unknown key");
  }

  function checkClaims(statement, bundle, ndjsonBytes, ndjsonDigest) {
    check(statement._type === "https://in-toto.io/Statement/v1", "not an in-toto Statement v1");
    check(statement.predicateType === "https://slsa.dev/provenance/v1", "not SLSA provenance v1");
    const details = statement.predicate.runDetails;
    const outcome = (details.byproducts || []).find((b) => b.name === "outcome").annotations;
    check(details.metadata.invocationId === bundle.runId, `attestation is for run ${details.metadata.invocationId}`);
    for (const [field, signed] of [["status", outcome.status], ["exitCode", outcome.exitCode], ["failureReason", outcome.failureReason]]) {
      check(bundle[field] === signed, `bundle ${field} ${bundle[field]} differs from the signed outcome ${signed}`);
    }
    const subjects = new Map(statement.subject.map((s) => [s.name, s.digest.sha256]));
    for (const a of bundle.artifacts) check(subjects.get(a.path) === a.sha256, `artifact ${a.path} is not a signed subject`);
    check(subjects.get("events.ndjson") === bundle.events.sha256, "event log digest differs from the signed subject");
    check(ndjsonDigest === bundle.events.sha256, "events.ndjson differs from the signed digest");
    const lines = new TextDecoder().decode(ndjsonBytes).split("\n").filter(Boolean).map((l) => JSON.parse(l));
    lines.forEach((e, i) => check(e.seq === i + 1, `event seq ${e.seq} where ${i + 1} was expected`));
    check(lines.length === bundle.events.count && lines.length === outcome.lastSeq, "event count differs");
    check(lines.filter((e) => e.type === "terminal").length === 1 && lines[lines.length - 1].type === "terminal", "terminal event is not last");
  }

  async function verifyIn(root) {
    const box = root.querySelector("#attestation[data-run-id]");
    const status = root.querySelector("#verify-status");
    if (!box || !status) return;
    const say = (cls, text) => { status.className = `verify ${cls}`; status.textContent = text; };
    if (!window.crypto || !crypto.subtle) return say("failed", "This browser offers WebCrypto only on HTTPS pages; verify with `crownest evidence verify`.");
    const base = `/api/v1/workspace-runs/${box.dataset.runId}`;
    try {
      const get = async (url) => {
        const resp = await fetch(url, { credentials: "same-origin" });
        if (!resp.ok) throw new Failed(`${url} answered ${resp.status}`);
        return resp;
      };
      const [bundle, envelope, ndjson, keys] = await Promise.all([
        get(`${base}/evidence`).then((r) => r.json()),
        get(`${base}/evidence/attestation`).then((r) => r.json()),
        get(`${base}/events.ndjson`).then((r) => r.arrayBuffer()),
        get("/api/v1/evidence-keys").then((r) => r.json()),
      ]);
      const { key, statement } = await verifySignature(envelope, keys);
      const bytes = new Uint8Array(ndjson);
      checkClaims(statement, bundle, bytes, await sha256(bytes));
      const retired = key.retiredAt ? ` (retired ${key.retiredAt.slice(0, 10)}, still valid)` : "";
      say("verified", `Signed by key ${key.keyid.slice(0, 16)}…${retired} — verified: the signature, the bundle, ${bundle.events.count} events and ${bundle.artifacts.length} artifact digests agree.`);
    } catch (err) {
      say("failed", `Not verified: ${err instanceof Failed ? err.message : err}`);
    }
  }

  window.CrowNestEvidence = { verifyIn };
})();
