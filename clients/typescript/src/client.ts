// The CrowNest client: one method per API call, plus runArchive (the whole run in one call).
// Runs on Node 20+ (global fetch) and in browsers; Node-only helpers are imported lazily.

import {
  ApiError, EvidenceDigestMismatch, EvidenceNotReady, StreamError, TransferConflict, ArchiveTooLarge,
  errorFromResponse,
} from "./errors.js";
import { JCS } from "./jcs.js";
import type {
  Artifact, CreateRunRequest, EventPage, Evidence, ListRunsQuery, NetworkPage, Run, RunEvent, RunList, Team, Template,
  TerminalData, Transfer, TransferParts, Usage,
} from "./types.js";
import { uploadPresigned } from "./presigned.js";
import type { CompletedPart } from "./presigned.js";
import { evidenceSha256, verifyEvidence } from "./verify.js";
import type { Bytes, DsseEnvelope, EvidenceKey, SigstoreBundle, VerifyEvidenceResult } from "./verify.js";

export type Progress = (done: number, total: number) => void;
const DIRECT_LIMIT = 32 * 1024 * 1024; // the server's default; a 413 with useStagedTransfer also switches
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ClientOptions {
  baseUrl: string;
  token: string;
  fetch?: typeof fetch;
}

export interface StreamOptions {
  afterSeq?: number;
  maxRetries?: number;
  backoffMs?: number;
  idleTimeoutMs?: number; // the server sends a keepalive every 15 s
  signal?: AbortSignal;
}

export interface RunArchiveOptions extends Omit<CreateRunRequest, "archive"> {
  filename?: string;
  uploadMethod?: "auto" | "direct" | "staged";
  directLimit?: number;
  outDir?: string; // Node only: artifacts at outDir/<path>, the bundle at outDir/evidence.json
  onRun?: (run: Run) => void;
  onEvent?: (event: RunEvent) => void;
  onProgress?: Progress;
  signal?: AbortSignal;
}

export interface RunResult {
  run: Run;
  terminal: TerminalData;
  lastSeq: number;
  artifacts: Artifact[];
  evidence: Evidence;
  /** "reused": the service already had this archive (yours or a team's); nothing was sent. */
  uploadMethod: "direct" | "staged" | "reused";
}

export interface VerifyRunOptions {
  /** Trusted keys: a pinned PEM or a saved evidence-keys list. Without them the keys are
   * fetched from the same server (GET /api/v1/evidence-keys), which checks integrity but is
   * no independent trust: pin the key for that. */
  keys?: EvidenceKey[] | string;
  /** Artifact files to check (path -> bytes); `downloadArtifacts` fetches them all instead. */
  artifacts?: Record<string, Bytes | Blob> | Map<string, Bytes | Blob>;
  downloadArtifacts?: boolean;
  waitMs?: number;
}

/** Whether a new run already has its archive (the service stored the same bytes before). */
export function isReused(run: Run): boolean {
  return run.status === "ready" && run.archive.uploadMethod === "reused";
}

export class Client {
  readonly baseUrl: string;
  private readonly token: string;
  private readonly fetchImpl: typeof fetch;

  constructor(opts: ClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, "");
    this.token = opts.token;
    this.fetchImpl = opts.fetch ?? globalThis.fetch.bind(globalThis);
  }

  private url(path: string, query?: Record<string, string | number | undefined>): string {
    const url = new URL(path.startsWith("http") ? path : path.startsWith("/api/") ? this.baseUrl + path : `${this.baseUrl}/api/v1${path}`);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url.toString();
  }

  async raw(method: string, path: string, init: { query?: Record<string, any>; json?: unknown; body?: BodyInit; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Response> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}`, ...init.headers };
    let body = init.body;
    if (init.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(init.json);
    }
    const resp = await this.fetchImpl(this.url(path, init.query), { method, headers, body, signal: init.signal });
    if (resp.status >= 400) throw await errorFromResponse(resp);
    return resp;
  }

  private async json<T>(method: string, path: string, init: Parameters<Client["raw"]>[2] = {}): Promise<T> {
    return (await (await this.raw(method, path, init)).json()) as T;
  }

  createRun(req: CreateRunRequest): Promise<Run> { return this.json("POST", "/workspace-runs", { json: req }); }
  getRun(id: string): Promise<Run> { return this.json("GET", `/workspace-runs/${id}`); }
  listRuns(query: ListRunsQuery = {}): Promise<RunList> {
    return this.json("GET", "/workspace-runs", { query });
  }
  start(id: string): Promise<Run> { return this.json("POST", `/workspace-runs/${id}/start`); }
  cancel(id: string): Promise<Run> { return this.json("POST", `/workspace-runs/${id}/cancel`); }
  /** A new run with the same template, command, archive, artifactPaths, timeoutSeconds, env and
   * team (`rerunOf` names the original): `ready` at once while the original's archive is still
   * stored (start it), otherwise `awaiting_archive` (upload the same bytes). */
  rerun(id: string, opts: { network?: "none" | "allowlist" | "replay" } = {}): Promise<Run> {
    return this.json("POST", `/workspace-runs/${id}/rerun`, opts.network ? { json: { network: opts.network } } : {});
  }
  listTemplates(): Promise<Template[]> { return this.json("GET", "/templates"); }
  /** The caller's teams with their role and the quotas in force. */
  listTeams(): Promise<Team[]> { return this.json("GET", "/teams"); }
  /** What the caller and each of their teams use against each limit. */
  usage(): Promise<Usage[]> { return this.json("GET", "/usage"); }

  /** Direct upload (up to the direct limit, 32 MiB by default). */
  uploadArchive(id: string, data: Blob): Promise<Run> {
    return this.json("PUT", `/workspace-runs/${id}/archive`, { body: data, headers: { "Content-Type": "application/gzip" } });
  }

  /** `mode: "chunked"` keeps the bytes off object storage (a client that cannot reach it). */
  createTransfer(runId: string, opts: { mode?: "chunked" | "presigned" } = {}): Promise<Transfer> {
    return this.json("POST", `/workspace-runs/${runId}/transfers`, opts.mode ? { json: { mode: opts.mode } } : {});
  }
  getTransfer(id: string): Promise<Transfer> { return this.json("GET", `/transfers/${id}`); }
  transferParts(id: string, from = 1): Promise<TransferParts> { return this.json("GET", `/transfers/${id}/parts`, { query: { from } }); }
  completeTransfer(id: string, parts?: CompletedPart[]): Promise<Run> {
    return this.json("POST", `/transfers/${id}/complete`, parts ? { json: { parts } } : {});
  }
  async abortTransfer(id: string): Promise<void> { await this.raw("DELETE", `/transfers/${id}`); }

  /** PUT one chunk at `start`; returns the server's receivedBytes. */
  async uploadChunk(transfer: Transfer, chunk: Blob, start: number, total: number): Promise<number> {
    const end = start + chunk.size - 1;
    const body = await this.json<Transfer>("PUT", transfer.uploadUrl, {
      body: chunk,
      headers: { "Content-Range": `bytes ${start}-${end}/${total}`, "Content-Type": "application/octet-stream" },
    });
    return body.receivedBytes;
  }

  /** Staged transfer: parts straight to object storage when the server offers presigned URLs,
   * else chunks through the server, resuming from what the server holds after a 409 or a
   * network error. Pass `transferId` to resume a transfer begun earlier (another process). */
  async uploadStaged(runId: string, data: Blob, opts: { transferId?: string; onProgress?: Progress; maxRetries?: number; mode?: "chunked"; concurrency?: number } = {}): Promise<Run> {
    const maxRetries = opts.maxRetries ?? 5;
    const transfer = opts.transferId ? await this.getTransfer(opts.transferId) : await this.createTransfer(runId, { mode: opts.mode });
    if (transfer.mode === "presigned") {
      // Parts straight to object storage (no Authorization: the URLs are the credential).
      const parts = await uploadPresigned(this, transfer, data, { ...opts, fetch: this.fetchImpl });
      return this.completeTransfer(transfer.id, parts);
    }
    const size = transfer.chunkSizeBytes || 256 * 1024;
    let offset = transfer.receivedBytes, failures = 0;
    while (offset < data.size) {
      try {
        offset = await this.uploadChunk(transfer, data.slice(offset, offset + size), offset, data.size);
        failures = 0;
      } catch (err) {
        if (err instanceof TransferConflict) {
          offset = err.receivedBytes;
        } else if (err instanceof ApiError && err.status < 500) {
          throw err;
        } else {
          await sleep(Math.min(200 * 2 ** failures, 5000));
          offset = (await this.getTransfer(transfer.id)).receivedBytes;
        }
        if (++failures > maxRetries) throw err;
      }
      opts.onProgress?.(offset, data.size);
    }
    return this.completeTransfer(transfer.id);
  }

  listEvents(id: string, opts: { afterSeq?: number; limit?: number } = {}): Promise<EventPage> {
    return this.json("GET", `/workspace-runs/${id}/events`, { query: { afterSeq: opts.afterSeq ?? 0, limit: opts.limit ?? 100 } });
  }

  /** Follow a run over SSE until its terminal event. A dropped connection reconnects with
   * Last-Event-ID = the last seq seen, so each event arrives once, in order; retries reset
   * whenever an event arrives. */
  async *streamEvents(id: string, opts: StreamOptions = {}): AsyncGenerator<RunEvent> {
    let last = opts.afterSeq ?? 0, failures = 0;
    const maxRetries = opts.maxRetries ?? 8, backoff = opts.backoffMs ?? 250, idle = opts.idleTimeoutMs ?? 60_000;
    for (;;) {
      const abort = new AbortController();
      const onOuterAbort = () => abort.abort(opts.signal?.reason);
      opts.signal?.addEventListener("abort", onOuterAbort);
      let timer = setTimeout(() => abort.abort(new Error("idle")), idle);
      try {
        const headers: Record<string, string> = { Accept: "text/event-stream" };
        if (last) headers["Last-Event-ID"] = String(last);
        const resp = await this.raw("GET", `/workspace-runs/${id}/events/stream`, { query: { afterSeq: last }, headers, signal: abort.signal });
        const reader = resp.body!.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "", data: string[] = [];
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          clearTimeout(timer);
          timer = setTimeout(() => abort.abort(new Error("idle")), idle);
          buffer += value;
          const lines = buffer.split(/\r\n|\r|\n/);
          buffer = lines.pop() ?? "";
          for (const line of lines) {
            if (line === "") {
              if (data.length) {
                const event = JSON.parse(data.join("\n")) as RunEvent;
                data = [];
                if (event.seq <= last) continue; // overlap after reconnecting: already delivered
                last = event.seq;
                failures = 0;
                yield event;
                if (event.type === "terminal") return;
              }
            } else if (line.startsWith("data:")) {
              data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
            }
          }
        }
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        if (err instanceof ApiError && err.status < 500 && err.status !== 429) throw err;
      } finally {
        clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onOuterAbort);
        abort.abort();
      }
      if (++failures > maxRetries) throw new StreamError(`lost the event stream of ${id} after seq ${last}`);
      await sleep(Math.min(backoff * 2 ** (failures - 1), 10_000));
    }
  }

  listArtifacts(runId: string): Promise<Artifact[]> { return this.json("GET", `/workspace-runs/${runId}/artifacts`); }
  getArtifact(id: string): Promise<Artifact> { return this.json("GET", `/artifacts/${id}`); }
  async downloadArtifact(id: string): Promise<Uint8Array> {
    return new Uint8Array(await (await this.raw("GET", `/artifacts/${id}/download`)).arrayBuffer());
  }

  /** The Evidence Bundle; written shortly after the terminal event, so evidence_not_ready is
   * retried for up to `waitMs`. Its `X-Evidence-Sha256` is checked against the sha256 of the
   * bundle's RFC 8785 bytes (EvidenceDigestMismatch when they differ); a bundle written before
   * JCS (no `canonicalization`) has a digest only its own serialisation reproduces, unchecked. */
  async getEvidence(runId: string, waitMs = 30_000): Promise<Evidence> {
    const resp = await this.getReady(`/workspace-runs/${runId}/evidence`, waitMs);
    const bundle: Evidence = await resp.json();
    const served = resp.headers.get("X-Evidence-Sha256");
    if (served && bundle.canonicalization === JCS) {
      const ours = await evidenceSha256(bundle);
      if (ours !== served) throw new EvidenceDigestMismatch(`evidence of ${runId}: served as ${served}, its JCS bytes hash to ${ours}`);
    }
    return bundle;
  }

  /** The signed attestation: a DSSE envelope `{payloadType, payload, signatures}` around the
   * in-toto Statement (docs/evidence.md). */
  async getAttestation(runId: string, waitMs = 30_000): Promise<DsseEnvelope> {
    return JSON.parse(new TextDecoder().decode(await this.getAttestationBytes(runId, waitMs)));
  }

  /** The envelope exactly as served: its sha256 is `evidence.attestation.sha256`. */
  async getAttestationBytes(runId: string, waitMs = 30_000): Promise<Uint8Array> {
    return new Uint8Array(await (await this.getReady(`/workspace-runs/${runId}/evidence/attestation`, waitMs)).arrayBuffer());
  }

  /** The same envelope as a Sigstore bundle v0.3 (`dsseEnvelope`, `publicKey.hint` = keyid,
   * no tlog entries); `scripts/sigstore-verify.mjs` checks it with @sigstore/verify. */
  async getSigstoreBundle(runId: string, waitMs = 30_000): Promise<SigstoreBundle> {
    return (await this.getReady(`/workspace-runs/${runId}/evidence/sigstore-bundle`, waitMs)).json();
  }

  /** The whole event log, one event JSON per line: the exact bytes whose sha256 is
   * `evidence.events.sha256` and the Statement's `events.ndjson` subject. */
  async getEventsNdjson(runId: string, waitMs = 30_000): Promise<Uint8Array> {
    return new Uint8Array(await (await this.getReady(`/workspace-runs/${runId}/events.ndjson`, waitMs)).arrayBuffer());
  }

  /** A network run's request log, one JSON object per line: the exact bytes whose sha256 is
   * `evidence.network.logSha256` and the Statement's `network.ndjson` subject. */
  async getNetworkNdjson(runId: string, waitMs = 30_000): Promise<Uint8Array> {
    return new Uint8Array(await (await this.getReady(`/workspace-runs/${runId}/network.ndjson`, waitMs)).arrayBuffer());
  }

  /** One page of a run's network log (`{count, ..., results}`, seq order). */
  getNetwork(runId: string, page = 1, pageSize = 100): Promise<NetworkPage> {
    return this.json("GET", `/workspace-runs/${runId}/network?page=${page}&pageSize=${pageSize}`);
  }

  /** The signing keys' public halves, retired ones included. */
  getEvidenceKeys(): Promise<EvidenceKey[]> { return this.json("GET", "/evidence-keys"); }

  /** Fetch a run's bundle, envelope (as served) and event log, and run `verifyEvidence`. */
  async verifyRun(runId: string, opts: VerifyRunOptions = {}): Promise<VerifyEvidenceResult> {
    const bundle = await this.getEvidence(runId, opts.waitMs);
    const [envelope, events, keys] = await Promise.all([
      this.getAttestationBytes(runId, opts.waitMs), this.getEventsNdjson(runId, opts.waitMs),
      opts.keys ?? this.getEvidenceKeys(),
    ]);
    let artifacts = opts.artifacts;
    if (opts.downloadArtifacts) {
      const files = new Map<string, Uint8Array>();
      for (const a of bundle.artifacts) files.set(a.path, await this.downloadArtifact(a.id));
      artifacts = files;
    }
    const networked = ((bundle as any).network?.mode ?? "none") !== "none";
    const network = networked ? await this.getNetworkNdjson(runId, opts.waitMs) : undefined;
    const result = await verifyEvidence({ bundle, envelope, events, keys, artifacts, network });
    if (!opts.keys) result.notes.push("the keys came from the same server; pin a key for independent trust");
    return result;
  }

  /** GET, retrying 409 evidence_not_ready for up to `waitMs`. */
  private async getReady(path: string, waitMs = 30_000): Promise<Response> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        return await this.raw("GET", path);
      } catch (err) {
        if (!(err instanceof EvidenceNotReady) || Date.now() >= deadline) throw err;
        await sleep(200);
      }
    }
  }

  /** Upload direct when small, staged when large or when the server asks (413 useStagedTransfer). */
  async upload(runId: string, data: Blob, opts: { method?: "auto" | "direct" | "staged"; directLimit?: number; onProgress?: Progress } = {}): Promise<[Run, "direct" | "staged"]> {
    const method = opts.method ?? "auto";
    if (method === "direct" || (method === "auto" && data.size <= (opts.directLimit ?? DIRECT_LIMIT))) {
      try {
        const run = await this.uploadArchive(runId, data);
        opts.onProgress?.(data.size, data.size);
        return [run, "direct"];
      } catch (err) {
        if (!(err instanceof ArchiveTooLarge && err.useStagedTransfer && method === "auto")) throw err;
      }
    }
    return [await this.uploadStaged(runId, data, { onProgress: opts.onProgress }), "staged"];
  }

  /** The whole run: a .tar.gz (a Blob, or a file path in Node) → result with artifacts and
   * evidence. Packing a directory is left to `tar` or the Python CLI (docs/sdk-typescript.md). */
  async runArchive(source: Blob | string, opts: RunArchiveOptions): Promise<RunResult> {
    let data: Blob, filename = opts.filename;
    if (typeof source === "string") {
      const fs = await import("node:fs");
      data = await fs.openAsBlob(source);
      filename ??= source.split(/[\\/]/).pop();
    } else {
      data = source;
      filename ??= (source as File).name ?? "archive.tgz";
    }
    const { filename: _f, uploadMethod, directLimit, outDir, onRun, onEvent, onProgress, signal, ...fields } = opts;
    const created = await this.createRun({ ...fields, archive: { sizeBytes: data.size, sha256: await sha256Hex(data), filename } });
    onRun?.(created);
    // A run that is ready at once shares an archive the service already stores: send nothing.
    const method = isReused(created)
      ? "reused"
      : (await this.upload(created.id, data, { method: uploadMethod, directLimit, onProgress }))[1];
    await this.start(created.id);
    let terminal: TerminalData | undefined, lastSeq = 0;
    for await (const event of this.streamEvents(created.id, { signal })) {
      lastSeq = event.seq;
      onEvent?.(event);
      if (event.type === "terminal") terminal = event.data;
    }
    const artifacts = await this.listArtifacts(created.id);
    const evidence = await this.getEvidence(created.id);
    if (outDir) await this.saveOutputs(outDir, artifacts, evidence);
    return { run: await this.getRun(created.id), terminal: terminal!, lastSeq, artifacts, evidence, uploadMethod: method };
  }

  private async saveOutputs(outDir: string, artifacts: Artifact[], evidence: Evidence): Promise<void> {
    const fs = await import("node:fs/promises");
    const path = await import("node:path");
    const root = path.resolve(outDir);
    for (const a of artifacts) {
      const dest = path.resolve(root, a.path);
      if (!dest.startsWith(root + path.sep)) throw new Error(`artifact path ${a.path} leaves ${root}`);
      await fs.mkdir(path.dirname(dest), { recursive: true });
      await fs.writeFile(dest, await this.downloadArtifact(a.id));
    }
    await fs.mkdir(root, { recursive: true });
    await fs.writeFile(path.join(root, "evidence.json"), JSON.stringify(evidence, null, 2) + "\n");
  }
}

/** sha256 hex of a Blob: streamed through node:crypto in Node (big archives never sit in
 * memory), WebCrypto over the whole buffer in browsers. */
export async function sha256Hex(data: Blob): Promise<string> {
  if (typeof process !== "undefined" && process.versions?.node) {
    const { createHash } = await import("node:crypto");
    const hash = createHash("sha256");
    for await (const chunk of data.stream() as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
    return hash.digest("hex");
  }
  const digest = await crypto.subtle.digest("SHA-256", await data.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
