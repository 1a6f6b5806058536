// The TypeScript SDK against a live stack (CROWNEST_URL, CROWNEST_TOKEN).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ARTIFACT_FIELDS, EVENT_FIELDS, EVIDENCE_FIELDS, RUN_FIELDS, ArchiveRejected, InvalidState,
  NotAuthenticated, NotFound, StreamError, TransferConflict, Client, sha256Hex,
} from "../dist/index.js";
import canonicalize from "canonicalize";
import { TOKEN, URL_, bytesOf, client, cuttingFetch, targz } from "./helpers.mjs";

const LINES = "for i in $(seq 1 40); do echo line$i; sleep 0.05; done";
const sameKeys = (obj, fields, label) =>
  assert.deepEqual(Object.keys(obj).filter((k) => !fields.includes(k)), [], `${label}: undeclared fields`);

test("runArchive from a path: output, artifacts, evidence, field names", async () => {
  const api = client();
  const out = mkdtempSync(join(tmpdir(), "crownest-out-"));
  const events = [];
  const result = await api.runArchive(targz({ "b.sh": "echo hi; mkdir -p d; echo x > d/f.txt" }), {
    template: "python-node", command: "sh b.sh", artifactPaths: ["d/"], outDir: out,
    onEvent: (e) => events.push(e),
  });
  assert.equal(result.terminal.status, "succeeded");
  assert.equal(result.uploadMethod, "direct");
  assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1));
  assert.equal(events.filter((e) => e.type === "stdout").map((e) => e.data.text).join(""), "hi\n");
  assert.equal(readFileSync(join(out, "d/f.txt"), "utf8"), "x\n");
  assert.equal(JSON.parse(readFileSync(join(out, "evidence.json"), "utf8")).runId, result.run.id);
  sameKeys(result.run, RUN_FIELDS, "run");
  for (const f of RUN_FIELDS.filter((f) => !["cancelRequested", "phases"].includes(f))) assert.ok(f in result.run, f);
  sameKeys(result.artifacts[0], ARTIFACT_FIELDS, "artifact");
  for (const f of ARTIFACT_FIELDS) assert.ok(f in result.artifacts[0], f);
  sameKeys(result.evidence, EVIDENCE_FIELDS, "evidence");
  for (const f of EVIDENCE_FIELDS) assert.ok(f in result.evidence, f);
  for (const e of events) sameKeys(e, EVENT_FIELDS, "event");
  // The served digest is the sha256 of the bundle's RFC 8785 bytes, as npm canonicalize writes them.
  const served = await fetch(`${URL_.replace(/\/+$/, "")}/api/v1/workspace-runs/${result.run.id}/evidence`, {
    headers: { Authorization: `Bearer ${TOKEN}` },
  });
  const bundle = await served.json();
  assert.equal(bundle.canonicalization, "RFC8785");
  assert.equal(served.headers.get("X-Evidence-Sha256"), createHash("sha256").update(canonicalize(bundle), "utf8").digest("hex"));
  const bytes = await api.downloadArtifact(result.artifacts[0].id);
  assert.equal(createHash("sha256").update(bytes).digest("hex"), result.artifacts[0].sha256);
  await assert.rejects(api.cancel(result.run.id), InvalidState);
});

test("runArchive from a Blob (the browser path) reports a failing exit code", async () => {
  const blob = new Blob([bytesOf(targz({ "x.txt": "x" }))], { type: "application/gzip" });
  const result = await client().runArchive(blob, { template: "python-node", command: "exit 3", filename: "b.tgz" });
  assert.equal(result.terminal.status, "failed");
  assert.equal(result.terminal.exitCode, 3);
  assert.equal(result.run.archive.filename, "b.tgz");
});

test("rerun: the same run again on the stored archive, no upload", async () => {
  const api = client();
  const first = await api.runArchive(targz({ "r.sh": "echo again" }), { template: "python-node", command: "sh r.sh" });
  const again = await api.rerun(first.run.id);
  assert.equal(again.rerunOf, first.run.id);
  assert.equal(again.status, "ready");
  assert.equal(again.archive.uploadMethod, "reused");
  assert.equal(again.archive.sha256, first.run.archive.sha256);
  assert.deepEqual([again.command, again.template], [first.run.command, first.run.template]);
  await api.start(again.id);
  const events = [];
  for await (const e of api.streamEvents(again.id)) events.push(e);
  assert.equal(events.at(-1).data.status, "succeeded");
  assert.equal(events.filter((e) => e.type === "stdout").map((e) => e.data.text).join(""), "again\n");
});

/** A fetch that records how many body bytes each request sent. */
function countingFetch(sent) {
  return async (url, init = {}) => {
    const body = init.body;
    let n = 0;
    if (typeof body === "string") n = Buffer.byteLength(body);
    else if (body) n = body.size ?? body.byteLength ?? 0;
    sent.push({ url: String(url), method: init.method, n });
    return fetch(url, init);
  };
}

test("the same archive twice: the second run reuses it and sends no archive bytes", async () => {
  const path = targz({ "u.sh": "echo reuse", "noise.bin": randomBytes(200_000) });
  const size = bytesOf(path).length;
  const first = [], second = [];
  const one = await client({ fetch: countingFetch(first) }).runArchive(path, { template: "python-node", command: "sh u.sh" });
  assert.equal(one.uploadMethod, "direct");
  const two = await client({ fetch: countingFetch(second) }).runArchive(path, { template: "python-node", command: "sh u.sh" });
  assert.equal(two.uploadMethod, "reused");
  assert.equal(two.run.archive.uploadMethod, "reused");
  assert.equal(two.terminal.status, "succeeded");
  const total = (log) => log.reduce((a, r) => a + r.n, 0);
  assert.ok(total(first) >= size, `first run sent ${total(first)} of ${size} bytes`);
  assert.ok(total(second) < 2000, `second run sent ${total(second)} bytes`);
  assert.deepEqual(second.filter((r) => /\/archive|\/transfers/.test(r.url)), []);
  console.log(`reuse: first run sent ${total(first)} bytes, second ${total(second)} (archive ${size})`);
});

test("the event stream resumes after the connection is cut", async () => {
  const api = client();
  const path = targz({ "x.txt": "x" });
  const run = await api.createRun({
    template: "python-node", command: LINES,
    archive: { sizeBytes: bytesOf(path).length, sha256: await sha256Hex(new Blob([bytesOf(path)])) },
  });
  await api.uploadArchive(run.id, new Blob([bytesOf(path)]));
  await api.start(run.id);
  const { fetchImpl, state } = cuttingFetch(700, 3);
  const cut = new Client({ baseUrl: URL_, token: process.env.CROWNEST_TOKEN, fetch: fetchImpl });
  const events = [];
  for await (const e of cut.streamEvents(run.id, { backoffMs: 50 })) events.push(e);
  assert.equal(state.cuts, 3);
  assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1));
  const text = events.filter((e) => e.type === "stdout").map((e) => e.data.text).join("");
  assert.deepEqual(text.trim().split("\n"), Array.from({ length: 40 }, (_, i) => `line${i + 1}`));
  const page = await api.listEvents(run.id, { limit: 1000 });
  assert.deepEqual(page.events, events);
});

test("typed errors and bounded stream retries", async () => {
  await assert.rejects(client().getRun("wr_missing"), NotFound);
  await assert.rejects(new Client({ baseUrl: URL_, token: "cn_wrong" }).listRuns(), NotAuthenticated);
  const api = client();
  const data = bytesOf(targz({ "x.txt": "x" }));
  const run = await api.createRun({ template: "python-node", command: "true", archive: { sizeBytes: data.length, sha256: "0".repeat(64) } });
  await assert.rejects(api.uploadArchive(run.id, new Blob([data])), (err) => err instanceof ArchiveRejected && err.code === "archive_digest_mismatch");
  const dead = new Client({ baseUrl: "http://127.0.0.1:9", token: "x" });
  await assert.rejects(async () => { for await (const _ of dead.streamEvents("wr_x", { maxRetries: 2, backoffMs: 10 })); }, StreamError);
});

test("staged upload resumes from receivedBytes", async () => {
  const api = client();
  const data = bytesOf(targz({ "big.bin": randomBytes(10 * 1024 * 1024), "ok.sh": "echo staged-ok" }));
  const blob = new Blob([data]);
  const run = await api.createRun({ template: "python-node", command: "sh ok.sh", archive: { sizeBytes: data.length, sha256: await sha256Hex(blob) } });
  const transfer = await api.createTransfer(run.id);
  const chunk = transfer.chunkSizeBytes;
  assert.ok(chunk > 0 && chunk < data.length);
  assert.equal(await api.uploadChunk(transfer, blob.slice(0, chunk), 0, data.length), chunk);
  await assert.rejects(api.uploadChunk(transfer, blob.slice(chunk + 1), chunk + 1, data.length),
    (err) => err instanceof TransferConflict && err.receivedBytes === chunk);
  const progress = [];
  const ready = await api.uploadStaged(run.id, blob, { transferId: transfer.id, onProgress: (d) => progress.push(d) });
  assert.equal(ready.status, "ready");
  assert.equal(ready.archive.uploadMethod, "staged");
  assert.ok(progress[0] > chunk && progress.at(-1) === data.length);
  await api.start(run.id);
  const events = [];
  for await (const e of api.streamEvents(run.id)) events.push(e);
  assert.equal(events.at(-1).data.status, "succeeded");
});
