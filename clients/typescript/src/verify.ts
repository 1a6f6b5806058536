// Offline verification of a run's evidence (docs/evidence.md, "Offline verification"): the
// signed attestation (DSSE envelope over an in-toto Statement v1, ECDSA P-256 / SHA-256), the
// Evidence Bundle, events.ndjson and any artifact files. WebCrypto only (globalThis.crypto), so
// it runs unchanged in Node 20+ and in browsers; no runtime dependency.

import { canonicalize } from "./jcs.js";
import type { components } from "./schema.js";
import type { Evidence, RunEvent } from "./types.js";

export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";
export const STATEMENT_TYPE = "https://in-toto.io/Statement/v1";
export const SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1";
export const SIGSTORE_BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json";

export type DsseSignature = components["schemas"]["DsseSignature"];
export type DsseEnvelope = components["schemas"]["DsseEnvelope"];
/** One entry of `GET /api/v1/evidence-keys`. */
export type EvidenceKey = components["schemas"]["EvidenceKey"];
/** `GET .../evidence/sigstore-bundle`: the same envelope as a Sigstore bundle v0.3. */
export type SigstoreBundle = components["schemas"]["SigstoreBundle"];

export interface InTotoSubject {
  name: string;
  digest: { sha256: string; [alg: string]: string };
}

/** The signed payload (only the fields the checks read are typed). */
export interface Statement {
  _type: string;
  subject: InTotoSubject[];
  predicateType: string;
  predicate: {
    buildDefinition: Record<string, any>;
    runDetails: {
      builder: { id: string };
      metadata: { invocationId: string; startedOn?: string; finishedOn?: string };
      byproducts: { name: string; mediaType?: string; annotations?: Record<string, any> }[];
    };
  };
}

export type EvidenceCheck =
  | "signature" | "statement" | "run" | "outcome" | "subjects" | "events" | "artifacts";

/** The seven checks of docs/evidence.md, in order (named as `crownest evidence verify` names them). */
export const EVIDENCE_CHECKS: readonly EvidenceCheck[] = [
  "signature", "statement", "run", "outcome", "subjects", "events", "artifacts",
];

export interface EvidenceCheckResult {
  check: EvidenceCheck;
  /** "skipped": an earlier check (or the inputs) failed, so this one did not run. */
  status: "passed" | "failed" | "skipped";
  /** What the check established, or why it failed. */
  message: string;
}

export interface VerifyEvidenceResult {
  ok: boolean;
  /** All seven checks, in order. */
  checks: EvidenceCheckResult[];
  /** The first failure (verification stops there); "inputs" when an input itself is unusable
   * (not a bundle, a key list that lies about its keyids, …) and no check ran. */
  failure?: { check: EvidenceCheck | "inputs"; message: string };
  /** Worth knowing, but no failure: a retired key, artifacts not checked, … */
  notes: string[];
  runId?: string;
  /** The key whose signature verified. */
  keyid?: string;
  /** True when that key is retired (it still verifies). */
  retiredKey?: boolean;
  /** The signed Statement, once its signature verified. */
  statement?: Statement;
}

export type Bytes = Uint8Array | ArrayBuffer | string;

export interface VerifyEvidenceInput {
  /** The Evidence Bundle (`evidence.json`). */
  bundle: Evidence;
  /** The DSSE envelope: parsed, or the bytes as served (then also compared with
   * `bundle.attestation.sha256`, as a note). */
  envelope: DsseEnvelope | Bytes;
  /** events.ndjson, the exact bytes (a string is encoded as UTF-8). */
  events: Bytes;
  /** The trusted keys: the list from `GET /api/v1/evidence-keys`, or a pinned PEM public key
   * (a string with one or more `PUBLIC KEY` blocks). */
  keys: EvidenceKey[] | string;
  /** Artifact files by path (as in the bundle, e.g. "dist/app.js"): bytes, string or Blob.
   * Artifacts without a file are reported as not checked. */
  artifacts?: Record<string, Bytes | Blob> | Map<string, Bytes | Blob>;
  /** A network run's network.ndjson, the exact bytes (GET .../network.ndjson): checked against
   * the signed subject, and each successful download against the signed resolvedDependencies. */
  network?: Bytes;
}

const BUNDLE_SCHEMA = "crownest.evidence/v1";
const KEY_ALGORITHM = "ecdsa-p256-sha256";
const EVENTS = "events.ndjson";
const NETWORK = "network.ndjson";

class CheckFailed extends Error {}
const fail = (message: string): never => { throw new CheckFailed(message); };

interface TrustedKey { keyid: string; key: CryptoKey; retiredAt: string | null }

/** Run docs/evidence.md's seven checks, in order, stopping at the first failure. Never throws
 * for bad evidence: the verdict is in the result. Same checks and messages as the Python
 * CLI's `crownest evidence verify`. */
export async function verifyEvidence(input: VerifyEvidenceInput): Promise<VerifyEvidenceResult> {
  const notes: string[] = [];
  const checks: EvidenceCheckResult[] = [];
  const result: VerifyEvidenceResult = { ok: false, checks, notes };
  const bundle = input.bundle as any;

  // The inputs themselves: a bundle, a usable envelope, trusted keys.
  let envelope: DsseEnvelope, keys: Map<string, TrustedKey>;
  try {
    if (!isObject(bundle)) fail("evidence.json: not a JSON object");
    result.runId = bundle.runId;
    if (bundle.schema !== BUNDLE_SCHEMA) fail(`evidence.json: schema is ${show(bundle.schema)}, not ${BUNDLE_SCHEMA}`);
    envelope = await readEnvelope(input.envelope, bundle, notes);
    keys = await trustedKeys(input.keys);
  } catch (err) {
    result.failure = { check: "inputs", message: messageOf(err) };
    for (const check of EVIDENCE_CHECKS) checks.push({ check, status: "skipped", message: "not run: inputs failed" });
    return result;
  }

  let statement: any, payload: Uint8Array, outcome: Record<string, any>;
  let eventsSubject: string, artifactSubjects: Map<string, string>, artifacts: { path: string; sha256: string }[];
  const steps: [EvidenceCheck, () => Promise<string>][] = [
    ["signature", async () => {
      if (!isObject(envelope)) fail("attestation.dsse.json (the DSSE envelope) is missing or not a JSON object");
      if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) fail(`payloadType ${show(envelope.payloadType)} is not ${IN_TOTO_PAYLOAD_TYPE}`);
      payload = b64(envelope.payload, "attestation payload");
      if (!Array.isArray(envelope.signatures) || envelope.signatures.length === 0) fail("attestation has no signatures");
      const pae = preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload) as Uint8Array<ArrayBuffer>;
      const unknown: string[] = [], failed: string[] = [];
      for (const s of envelope.signatures) {
        const keyid = isObject(s) ? s.keyid : undefined;
        const key = typeof keyid === "string" ? keys.get(keyid) : undefined;
        if (!key) { unknown.push(keyid || "(no keyid)"); continue; }
        const der = typeof s.sig === "string" ? base64Decode(s.sig) : null;
        const raw = der && derToRawSignature(der);
        if (!raw || !(await globalThis.crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key.key, raw as Uint8Array<ArrayBuffer>, pae))) {
          failed.push(key.keyid);
          continue;
        }
        result.keyid = key.keyid;
        const named = bundle.attestation?.keyid;
        if (named && named !== key.keyid) notes.push(`the bundle names key ${named}, the signature is by ${key.keyid}`);
        if (key.retiredAt) {
          result.retiredKey = true;
          notes.push(`signed by retired key ${key.keyid} (retired ${key.retiredAt}); it still verifies`);
          return `signed by retired key ${key.keyid}`;
        }
        return `signed by key ${key.keyid}`;
      }
      return failed.length ? fail(`signature does not verify with key ${failed[0]}`) : fail(`signed by an unknown key ${unknown[0]}`);
    }],
    ["statement", async () => {
      try {
        statement = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
      } catch {
        fail("the signed statement is not UTF-8 JSON");
      }
      if (!isObject(statement)) fail("the signed statement is missing or not a JSON object");
      result.statement = statement;
      for (const [name, want] of [["_type", STATEMENT_TYPE], ["predicateType", SLSA_PROVENANCE_V1]]) {
        if (statement[name] !== want) fail(`${name} ${show(statement[name])} is not ${want}`);
      }
      return "in-toto Statement v1, SLSA provenance v1";
    }],
    ["run", async () => {
      const predicate = obj(statement.predicate, "statement predicate");
      const details = obj(predicate.runDetails, "statement predicate.runDetails");
      const metadata = obj(details.metadata, "statement runDetails.metadata");
      const byproducts = Array.isArray(details.byproducts) ? details.byproducts : [];
      const found = byproducts.find((b: any) => isObject(b) && b.name === "outcome");
      if (!found) fail("statement has no outcome byproduct");
      outcome = obj(found.annotations, "statement outcome annotations");
      if (metadata.invocationId !== bundle.runId) {
        fail(`attestation is for run ${show(metadata.invocationId)} but the bundle is run ${show(bundle.runId)}`);
      }
      if (outcome.runId !== bundle.runId) {
        fail(`the signed outcome is for run ${show(outcome.runId)} but the bundle is run ${show(bundle.runId)}`);
      }
      return `run ${bundle.runId}`;
    }],
    ["outcome", async () => {
      const events = obj(bundle.events, "bundle events");
      const pairs: [string, unknown, string][] = [
        ["status", bundle.status, "status"], ["exitCode", bundle.exitCode, "exitCode"],
        ["failureReason", bundle.failureReason, "failureReason"], ["events.lastSeq", events.lastSeq, "lastSeq"],
      ];
      for (const [name, ours, signedName] of pairs) {
        if (!sameJson(ours, outcome[signedName])) {
          const label = name === signedName ? "" : `${signedName} `;
          fail(`bundle ${name} ${show(ours)} differs from the signed outcome ${label}${show(outcome[signedName])}`);
        }
      }
      return `${show(outcome.status)}, exit code ${show(outcome.exitCode)}`;
    }],
    ["subjects", async () => {
      if (!Array.isArray(statement.subject)) fail("statement has no subject list");
      const digests: [string, unknown][] = statement.subject.map((s: any) => {
        if (!isObject(s) || typeof s.name !== "string" || !isObject(s.digest)) fail(`statement subject ${show(s)} has no name or digest`);
        return [s.name, s.digest.sha256];
      });
      const network = isObject((bundle as any).network) ? (bundle as any).network : { mode: "none" };
      if (network.mode !== "none") {
        // a network run signs its request log as the last subject of that name
        const at = digests.map(([name]) => name).lastIndexOf(NETWORK);
        if (at < 0) fail(`${NETWORK} has no signed subject`);
        const signed = digests.splice(at, 1)[0][1] as string;
        if (network.logSha256 !== signed) fail(`bundle network.logSha256 differs from the signed ${NETWORK} subject`);
        await checkNetworkLog(input.network, signed, statement, notes);
      }
      // the event log is the last subject of its name (an artifact might share the name)
      const last = digests.map(([name]) => name).lastIndexOf(EVENTS);
      if (last < 0) fail(`${EVENTS} has no signed subject`);
      eventsSubject = digests.splice(last, 1)[0][1] as string;
      artifactSubjects = new Map();
      for (const [name, sha] of digests) {
        if (artifactSubjects.has(name)) fail(`statement names subject ${name} twice`);
        artifactSubjects.set(name, sha as string);
      }
      if (!Array.isArray(bundle.artifacts)) fail("bundle artifacts is missing or not a list");
      artifacts = bundle.artifacts;
      for (const a of artifacts) {
        const path = isObject(a) ? a.path : undefined;
        if (typeof path !== "string" || !artifactSubjects.has(path)) fail(`artifact ${show(path)} has no signed subject`);
        if (a.sha256 !== artifactSubjects.get(path!)) fail(`artifact ${path}: bundle sha256 differs from the signed subject`);
      }
      const paths = new Set(artifacts.map((a) => a.path));
      const extra = [...artifactSubjects.keys()].filter((name) => !paths.has(name)).sort();
      if (extra.length) fail(`subject ${extra[0]} is signed but is not an artifact of the bundle`);
      if (bundle.events.sha256 !== eventsSubject) fail(`bundle events.sha256 differs from the signed ${EVENTS} subject`);
      return `${artifacts.length} artifact(s) and ${EVENTS}`;
    }],
    ["events", async () => {
      const bytes = toBytes(input.events);
      const parsed = parseEventLog(bytes); // order, gaps, the terminal event
      if ((await sha256Hex(bytes)) !== eventsSubject) {
        const why = typeof parsed === "string" ? `; ${parsed.replace(`${EVENTS}: `, "")}` : "";
        fail(`${EVENTS}: sha256 differs from the signed subject${why}`);
      }
      if (typeof parsed === "string") return fail(parsed); // signed as it is, yet not a well-formed log
      const events = parsed;
      const { count, lastSeq } = bundle.events;
      const n = events.length;
      if (!sameJson(n, count)) fail(`${EVENTS} has ${n} events but the bundle's events.count is ${show(count)}`);
      if (!sameJson(n, lastSeq)) fail(`${EVENTS} ends at seq ${n} but the bundle's events.lastSeq is ${show(lastSeq)}`);
      const terminal = events[n - 1];
      if (!sameJson(terminal, bundle.terminalEvent)) fail(`the terminal event (seq ${terminal.seq}) differs from bundle.terminalEvent`);
      // Read as untyped: the files under check may say anything.
      const data: Record<string, unknown> = isObject(terminal.data) ? { ...terminal.data } : {};
      const claimed: Record<string, unknown> = { ...bundle };
      for (const name of ["status", "exitCode", "failureReason"]) {
        if (!sameJson(data[name], claimed[name])) {
          fail(`terminal event ${name} ${show(data[name])} differs from the bundle's ${show(claimed[name])}`);
        }
      }
      return `${n} events, seq 1..${n}, terminal last`;
    }],
    ["artifacts", async () => {
      const files = new Map<string, Bytes | Blob>();
      const given = input.artifacts instanceof Map ? input.artifacts : Object.entries(input.artifacts ?? {});
      for (const [path, data] of given) files.set(path.replace(/^(\.\/)+/, ""), data);
      let checked = 0;
      for (const a of artifacts) {
        const data = files.get(a.path);
        if (data === undefined) { notes.push(`artifact ${a.path} not downloaded, not checked`); continue; }
        const bytes = typeof Blob !== "undefined" && data instanceof Blob ? new Uint8Array(await data.arrayBuffer()) : toBytes(data as Bytes);
        if ((await sha256Hex(bytes)) !== artifactSubjects.get(a.path)) fail(`artifact ${a.path}: sha256 differs from the signed subject`);
        checked += 1;
      }
      for (const path of files.keys()) {
        if (!artifactSubjects.has(path)) notes.push(`${path} is not an artifact of the bundle, not checked`);
      }
      const missing = artifacts.length - checked;
      return `${checked} checked` + (missing ? `, ${missing} not checked` : "");
    }],
  ];

  for (const [check, run] of steps) {
    if (result.failure) {
      checks.push({ check, status: "skipped", message: `not run: ${result.failure.check} failed` });
      continue;
    }
    try {
      checks.push({ check, status: "passed", message: await run() });
    } catch (err) {
      result.failure = { check, message: messageOf(err) };
      checks.push({ check, status: "failed", message: result.failure.message });
    }
  }
  result.ok = !result.failure;
  return result;
}

function messageOf(err: unknown): string {
  return err instanceof CheckFailed ? err.message : `malformed input (${(err as Error)?.name}: ${(err as Error)?.message ?? err})`;
}

// --- inputs ---------------------------------------------------------------------------------

async function readEnvelope(value: DsseEnvelope | Bytes, bundle: any, notes: string[]): Promise<DsseEnvelope> {
  if (typeof value !== "string" && !(value instanceof Uint8Array) && !(value instanceof ArrayBuffer)) return value;
  const bytes = toBytes(value);
  const named = bundle.attestation?.sha256;
  if (named && named !== (await sha256Hex(bytes))) {
    notes.push("attestation.dsse.json is not byte for byte the envelope the bundle names"
      + " (re-serialised?); the signature inside it is what was checked");
  }
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return fail("attestation.dsse.json: not JSON");
  }
}

/** Trusted keys by keyid. The keyid is computed from the key itself; a list entry that names
 * another keyid is refused, not half-trusted. */
async function trustedKeys(keys: EvidenceKey[] | string): Promise<Map<string, TrustedKey>> {
  const entries: Partial<EvidenceKey>[] = typeof keys === "string"
    ? (keys.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? []).map((publicKeyPem) => ({ publicKeyPem }))
    : Array.isArray(keys) ? keys : fail("keys: expected a PEM public key or the evidence-keys list");
  if (typeof keys === "string" && entries.length === 0) fail("keys: no PEM public key given");
  const out = new Map<string, TrustedKey>();
  for (const [i, entry] of entries.entries()) {
    if (!isObject(entry) || typeof entry.publicKeyPem !== "string") fail(`key ${i} has no publicKeyPem`);
    if ((entry.algorithm ?? KEY_ALGORITHM) !== KEY_ALGORITHM) fail(`key ${i} has algorithm ${show(entry.algorithm)}, not ${KEY_ALGORITHM}`);
    const der = pemToDer(entry.publicKeyPem!) ?? fail(`key ${i}: not a PEM public key`);
    let key: CryptoKey;
    try {
      key = await globalThis.crypto.subtle.importKey("spki", der as Uint8Array<ArrayBuffer>, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    } catch {
      return fail(`key ${i}: not an ECDSA P-256 public key`);
    }
    const keyid = await sha256Hex(der);
    if (entry.keyid != null && entry.keyid !== keyid) fail(`key ${i} is listed as ${entry.keyid} but its public key is ${keyid}`);
    out.set(keyid, { keyid, key, retiredAt: entry.retiredAt ?? null });
  }
  return out;
}

/** DSSE v1 pre-authentication encoding: "DSSEv1" SP len(type) SP type SP len(body) SP body. */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Uint8Array {
  const enc = new TextEncoder();
  const type = enc.encode(payloadType);
  return concat([enc.encode(`DSSEv1 ${type.length} `), type, enc.encode(` ${payload.length} `), payload]);
}

/** An ASN.1 DER ECDSA-Sig-Value SEQUENCE{INTEGER r, INTEGER s} → the raw 64-byte r||s that
 * WebCrypto verifies (P-256). Null when it is not strict DER of that shape. */
export function derToRawSignature(der: Uint8Array, size = 32): Uint8Array | null {
  let pos = 0;
  const readLength = (): number | null => {
    if (pos >= der.length) return null;
    const first = der[pos++];
    if (first < 0x80) return first;
    if (first !== 0x81 || pos >= der.length) return null; // no ECDSA P-256 signature needs more
    const len = der[pos++];
    return len >= 0x80 ? len : null;
  };
  const readInteger = (): Uint8Array | null => {
    if (der[pos++] !== 0x02) return null;
    const len = readLength();
    if (len === null || len === 0 || pos + len > der.length) return null;
    let value = der.subarray(pos, pos + len);
    pos += len;
    if (value[0] & 0x80) return null; // negative
    if (value.length > 1 && value[0] === 0 && !(value[1] & 0x80)) return null; // not minimal
    while (value.length > 0 && value[0] === 0) value = value.subarray(1);
    return value.length <= size ? value : null;
  };
  if (der[pos++] !== 0x30) return null;
  const seqLen = readLength();
  if (seqLen === null || pos + seqLen !== der.length) return null;
  const r = readInteger(), s = readInteger();
  if (!r || !s || pos !== der.length) return null;
  const raw = new Uint8Array(2 * size);
  raw.set(r, size - r.length);
  raw.set(s, 2 * size - s.length);
  return raw;
}

/** The DER SubjectPublicKeyInfo inside a `PUBLIC KEY` PEM block. */
export function pemToDer(pem: string): Uint8Array | null {
  const m = /-----BEGIN PUBLIC KEY-----([\s\S]*?)-----END PUBLIC KEY-----/.exec(pem);
  return m ? base64Decode(m[1].replace(/\s+/g, "")) : null;
}

/** The sha256 of a bundle's RFC 8785 (JCS) bytes: its `X-Evidence-Sha256` when the bundle's
 * `canonicalization` is "RFC8785". */
export async function evidenceSha256(bundle: unknown): Promise<string> {
  return sha256Hex(new TextEncoder().encode(canonicalize(bundle)));
}

/** keyid as the service computes it: hex sha256 of the public key's DER SubjectPublicKeyInfo. */
export async function evidenceKeyId(pem: string): Promise<string> {
  const der = pemToDer(pem);
  if (!der) throw new Error("not a PEM public key");
  return sha256Hex(der);
}

// --- the event log ---------------------------------------------------------------------

/** events.ndjson's own shape: one event object per line, seq 1..N in order, no gap, exactly
 * one terminal event and that one last. The events, or what is wrong (which line, which seq). */
function parseEventLog(bytes: Uint8Array): RunEvent[] | string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return `${EVENTS}: not UTF-8`;
  }
  if (text === "") return `${EVENTS}: empty`;
  if (!text.endsWith("\n")) return `${EVENTS}: the last line has no newline`;
  const events: RunEvent[] = [];
  for (const [i, line] of text.slice(0, -1).split("\n").entries()) {
    let event: any;
    try {
      event = JSON.parse(line);
    } catch {
      return `${EVENTS}: line ${i + 1} is not JSON`;
    }
    if (!isObject(event) || !Number.isInteger(event.seq)) return `${EVENTS}: line ${i + 1} has no seq`;
    events.push(event as RunEvent);
  }
  const seqs = new Set(events.map((e) => e.seq));
  let prev = 0, terminal: number | null = null;
  for (const { seq, type } of events) {
    if (prev === 0 && seq !== 1) return `${EVENTS}: starts at seq ${seq}, not 1` + (seqs.has(1) ? " (out of order)" : "");
    if (seq !== prev + 1) {
      let why = seq === prev ? "repeated" : seq < prev ? "out of order" : "gap";
      if (why === "gap" && seqs.has(prev + 1)) why = "out of order";
      return `${EVENTS}: seq ${seq} follows seq ${prev} (${why})`;
    }
    if (type === "terminal") {
      if (terminal !== null) return `${EVENTS}: a second terminal event (seq ${seq}) after seq ${terminal}`;
      terminal = seq;
    }
    prev = seq;
  }
  if (terminal === null) return `${EVENTS}: no terminal event`;
  if (terminal !== prev) return `${EVENTS}: the terminal event (seq ${terminal}) is not last (seq ${prev})`;
  return events;
}

// --- helpers --------------------------------------------------------------------------------

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  return v == null ? "null" : typeof v === "string" ? v : JSON.stringify(v);
}

function obj(v: unknown, what: string): Record<string, any> {
  return isObject(v) ? v : fail(`${what} is missing or not a JSON object`);
}

function b64(v: unknown, what: string): Uint8Array {
  return (typeof v === "string" ? base64Decode(v) : null) ?? fail(`${what} is not valid base64`);
}

/** JSON equality as JCS sees it: key order does not matter, 1 and 1.0 are one number; 0 and
 * false, 1 and "1" differ. */
function sameJson(a: unknown, b: unknown): boolean {
  return canonicalize(a) === canonicalize(b);
}

function toBytes(v: Bytes): Uint8Array<ArrayBuffer> {
  if (typeof v === "string") return new TextEncoder().encode(v);
  if (v instanceof ArrayBuffer) return new Uint8Array(v.slice(0));
  const copy = new Uint8Array(v.byteLength);
  copy.set(v);
  return copy;
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) { out.set(p, pos); pos += p.length; }
  return out;
}

/** Standard or URL-safe base64, padded or not; null when it is not base64. */
export function base64Decode(text: string): Uint8Array | null {
  const std = text.replace(/-/g, "+").replace(/_/g, "/");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(std) || std.replace(/=+$/, "").length % 4 === 1) return null;
  const padded = std.replace(/=+$/, "").padEnd(Math.ceil(std.replace(/=+$/, "").length / 4) * 4, "=");
  try {
    const bin = atob(padded);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest("SHA-256", toBytes(bytes));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The saved network log hashes to the signed digest, and every successful download in it is a
 * signed resolvedDependency (URL and body digest). */
async function checkNetworkLog(data: Bytes | undefined, signed: string, statement: any, notes: string[]): Promise<void> {
  if (data === undefined) {
    notes.push(`${NETWORK} not given, not checked`);
    return;
  }
  const bytes = toBytes(data);
  if ((await sha256Hex(bytes)) !== signed) fail(`${NETWORK}: sha256 differs from the signed subject`);
  const deps = statement?.predicate?.buildDefinition?.resolvedDependencies;
  const known = new Set((Array.isArray(deps) ? deps : []).map((d: any) => `${d?.uri} ${d?.digest?.sha256}`));
  for (const line of new TextDecoder().decode(bytes).split("\n")) {
    if (!line) continue;
    const entry = JSON.parse(line);
    const ok = (entry.decision === "allowed" || entry.decision === "replayed") && entry.sha256;
    if (ok && entry.status >= 200 && entry.status < 300 && !known.has(`${entry.url} ${entry.sha256}`)) {
      fail(`${NETWORK}: download ${entry.url} is not a signed resolvedDependency`);
    }
  }
}
