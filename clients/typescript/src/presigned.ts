// Presigned transfers: each part PUT straight to object storage at its own URL, with no
// Authorization header (the URL is the credential), a few at a time. A resume asks the server
// which parts storage already holds (storedParts) and sends only the others.

import { StreamError } from "./errors.js";
import type { PartUrl, Transfer, TransferParts } from "./types.js";

export interface PresignedApi {
  getTransfer(id: string): Promise<Transfer>;
  transferParts(id: string, from: number): Promise<TransferParts>;
}

export interface PresignedOptions {
  concurrency?: number;
  maxRetries?: number;
  onProgress?: (done: number, total: number) => void;
  fetch?: typeof fetch;
}

export interface CompletedPart { partNumber: number; etag: string }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function* pages(api: PresignedApi, transfer: Transfer): AsyncGenerator<PartUrl[]> {
  let page: { parts?: PartUrl[]; nextFrom?: number | null } = transfer;
  for (;;) {
    yield page.parts ?? [];
    if (page.nextFrom == null) return;
    page = await api.transferParts(transfer.id, page.nextFrom);
  }
}

/** One pass over every part not stored yet; the failures (not thrown). */
async function sendPass(api: PresignedApi, transfer: Transfer, data: Blob, etags: Map<number, string>, opts: PresignedOptions): Promise<unknown[]> {
  const put = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const stored = new Set<number>();
  let done = 0;
  for (const p of transfer.storedParts ?? []) {
    stored.add(p.partNumber);
    etags.set(p.partNumber, p.etag);
    done += p.sizeBytes;
  }
  const failures: unknown[] = [];
  const one = async (part: PartUrl) => {
    try {
      const resp = await put(part.url, { method: "PUT", body: data.slice(part.start, part.end + 1) });
      const etag = resp.headers.get("ETag");
      if (!resp.ok || !etag) throw new StreamError(`storage answered ${resp.status} for part ${part.partNumber}`);
      etags.set(part.partNumber, etag);
      done += part.end - part.start + 1;
      opts.onProgress?.(done, data.size);
    } catch (err) {
      failures.push(err);
    }
  };
  for await (const parts of pages(api, transfer)) {
    const todo = parts.filter((p) => !stored.has(p.partNumber));
    const lanes = Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, async () => {
      for (let part = todo.shift(); part; part = todo.shift()) await one(part);
    });
    await Promise.all(lanes);
  }
  return failures;
}

/** Send the parts of a presigned transfer (resuming from those stored), retrying a failed pass
 * from the server's list of stored parts; returns the part list that completes it. */
export async function uploadPresigned(api: PresignedApi, transfer: Transfer, data: Blob, opts: PresignedOptions = {}): Promise<CompletedPart[]> {
  const etags = new Map<number, string>();
  const retries = opts.maxRetries ?? 5;
  for (let attempt = 0; ; attempt++) {
    const failures = await sendPass(api, transfer, data, etags, opts);
    if (failures.length === 0) break;
    if (attempt >= retries) throw new StreamError(`transfer ${transfer.id}: parts keep failing (${String(failures[0])})`);
    await sleep(Math.min(200 * 2 ** attempt, 5000));
    transfer = await api.getTransfer(transfer.id); // what storage holds now, with fresh URLs
  }
  const count = transfer.partCount ?? etags.size;
  return Array.from({ length: count }, (_, i) => ({ partNumber: i + 1, etag: etags.get(i + 1) as string }));
}
