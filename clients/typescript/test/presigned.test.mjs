// Against a stack configured for S3 (presigned transfers offered): run by
// tests/test_multihost.py with CROWNEST_URL/CROWNEST_TOKEN of such a stack.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { bytesOf, client, targz } from "./helpers.mjs";

const declare = (data) => ({
  sizeBytes: data.length,
  sha256: createHash("sha256").update(data).digest("hex"),
  filename: "repo.tgz",
});

test("presigned transfer: parts go straight to storage; a dropped part is sent again", async () => {
  const data = bytesOf(targz({ "big.bin": randomBytes(11 * 1024 * 1024) }));
  const puts = [];
  let dropped = false;
  const fetchImpl = async (url, init = {}) => {
    const u = new URL(url);
    if (init.method === "PUT" && u.searchParams.has("partNumber")) {
      const n = Number(u.searchParams.get("partNumber"));
      puts.push(n);
      assert.equal(new Headers(init.headers).get("authorization"), null);
      if (n === 2 && !dropped) {
        dropped = true;
        throw new TypeError("fetch failed");
      }
    }
    return fetch(url, init);
  };
  const api = client({ fetch: fetchImpl });
  const run = await api.createRun({ template: "python-node", command: "true", archive: declare(data) });
  const transfer = await api.createTransfer(run.id);
  assert.equal(transfer.mode, "presigned");
  assert.equal(transfer.partCount, 3);
  const ready = await api.uploadStaged(run.id, new Blob([data]), { transferId: transfer.id });
  assert.equal(ready.status, "ready");
  assert.deepEqual(puts.sort(), [1, 2, 2, 3]);
});

test("a client may ask for chunked even with object storage", async () => {
  const data = bytesOf(targz({ "small.txt": "hello" }));
  const api = client();
  const run = await api.createRun({ template: "python-node", command: "true", archive: declare(data), reuseArchive: false });
  const ready = await api.uploadStaged(run.id, new Blob([data]), { mode: "chunked" });
  assert.equal(ready.status, "ready");
  const other = await api.createRun({ template: "python-node", command: "true", archive: declare(data), reuseArchive: false });
  assert.equal((await api.createTransfer(other.id, { mode: "chunked" })).mode, "chunked");
});
