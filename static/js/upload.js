// Archive hashing and upload. The file is read in slices (never whole) for sha256; small files
// go in one PUT, large ones through a resumable staged transfer: in the server's chunk size, or,
// when the server offers presigned part URLs, part by part straight to object storage.
(function () {
  "use strict";
  const { ApiError, csrfToken, toError } = window.CrowNest;
  const SLICE = 4 * 1024 * 1024;

  async function sha256File(file, onProgress) {
    const hasher = await hashwasm.createSHA256();
    hasher.init();
    for (let offset = 0; offset < file.size; offset += SLICE) {
      const buf = await file.slice(offset, offset + SLICE).arrayBuffer();
      hasher.update(new Uint8Array(buf));
      onProgress(Math.min(offset + SLICE, file.size), file.size);
    }
    if (file.size === 0) onProgress(0, 0);
    return hasher.digest("hex");
  }

  // XHR rather than fetch: fetch reports no upload progress.
  function put(url, body, headers, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      xhr.withCredentials = true;
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      for (const [k, v] of Object.entries(headers || {})) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => onProgress && onProgress(e.loaded);
      xhr.onerror = () => reject(new NetworkError("The connection dropped."));
      xhr.ontimeout = () => reject(new NetworkError("The upload timed out."));
      xhr.onload = () => {
        const resp = new Response(xhr.responseText || "{}", { status: xhr.status });
        if (xhr.status >= 200 && xhr.status < 300) resolve(resp.json());
        else if (xhr.status >= 500) reject(new NetworkError(`The server answered ${xhr.status}.`));
        else toError(resp).then(reject);
      };
      xhr.send(body);
    });
  }

  class NetworkError extends Error {}

  // Progress with a rate: bytes per second since the first report, none until a tenth of a
  // second has passed (a rate over a few milliseconds is noise).
  function meter(total, report) {
    const started = performance.now();
    return (done, phase) => {
      const secs = (performance.now() - started) / 1000;
      const rate = secs >= 0.1 ? done / secs : null;
      report({ phase, done, total, percent: total ? (done / total) * 100 : 100, rate });
    };
  }

  async function direct(run, file, report) {
    const tick = meter(file.size, report);
    return put(run.links.archive || `/api/v1/workspace-runs/${run.id}/archive`, file,
      { "Content-Type": "application/gzip" }, (n) => tick(n, "Uploading"));
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // A part straight to object storage: no cookies, no CSRF header (the URL is the credential).
  // The bucket's CORS rule must allow PUT from this origin and expose the ETag header.
  function putPart(url, body, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      xhr.upload.onprogress = (e) => onProgress(e.loaded);
      xhr.onerror = () => reject(new NetworkError("The connection to storage dropped."));
      xhr.ontimeout = () => reject(new NetworkError("The upload to storage timed out."));
      xhr.onload = () => {
        const etag = xhr.getResponseHeader("ETag");
        if (xhr.status >= 200 && xhr.status < 300 && etag) resolve(etag);
        else reject(new NetworkError(`Storage answered ${xhr.status}${etag ? "" : " (no ETag)"}.`));
      };
      xhr.send(body);
    });
  }

  // One pass over the parts storage does not hold yet, four at a time; the failures counted.
  async function partsPass(transfer, file, etags, progress) {
    const call = window.CrowNest.call;
    const stored = new Set();
    for (const p of transfer.storedParts || []) {
      stored.add(p.partNumber);
      etags.set(p.partNumber, p.etag);
      progress.done += p.sizeBytes;
    }
    let page = transfer;
    let failed = 0;
    for (;;) {
      const todo = (page.parts || []).filter((p) => !stored.has(p.partNumber));
      const lane = async () => {
        for (let part = todo.shift(); part; part = todo.shift()) {
          try {
            const etag = await putPart(part.url, file.slice(part.start, part.end + 1),
              (n) => progress.sending(part.partNumber, n));
            etags.set(part.partNumber, etag);
            progress.done += part.end - part.start + 1;
          } catch (err) {
            failed += 1;
          }
          progress.sending(part.partNumber, 0);
        }
      };
      await Promise.all([lane(), lane(), lane(), lane()]);
      if (page.nextFrom == null) return failed;
      page = await call("GET", `/api/v1/transfers/${transfer.id}/parts?from=${page.nextFrom}`);
    }
  }

  // Presigned transfer: the bytes go straight to object storage; a failed pass resumes from the
  // parts the server says are stored, with fresh URLs.
  async function presigned(transfer, file, report) {
    const call = window.CrowNest.call;
    const tick = meter(file.size, report);
    const inFlight = new Map();
    const progress = {
      done: 0,
      sending(n, bytes) {
        if (bytes) inFlight.set(n, bytes); else inFlight.delete(n);
        let sum = this.done;
        for (const v of inFlight.values()) sum += v;
        tick(Math.min(sum, file.size), "Uploading (straight to storage)");
      },
    };
    const etags = new Map();
    for (let failures = 0; ; failures++) {
      progress.done = 0;
      if (!(await partsPass(transfer, file, etags, progress))) break;
      if (failures >= 12) throw new NetworkError("Parts keep failing to reach storage.");
      const wait = Math.min(1000 * 2 ** failures, 30000);
      tick(progress.done, `Connection lost; retrying in ${Math.round(wait / 1000)}s`);
      await sleep(wait);
      transfer = await call("GET", `/api/v1/transfers/${transfer.id}`);
    }
    tick(file.size, "Verifying");
    const parts = [];
    for (let n = 1; n <= transfer.partCount; n++) parts.push({ partNumber: n, etag: etags.get(n) });
    return call("POST", `/api/v1/transfers/${transfer.id}/complete`, { parts });
  }

  async function staged(run, file, report) {
    const call = window.CrowNest.call;
    const transfer = await call("POST", `/api/v1/workspace-runs/${run.id}/transfers`, {});
    if (transfer.mode === "presigned") return presigned(transfer, file, report);
    const chunk = transfer.chunkSizeBytes || 8 * 1024 * 1024;
    const tick = meter(file.size, report);
    let received = transfer.receivedBytes || 0;
    let failures = 0;
    while (received < file.size) {
      const end = Math.min(received + chunk, file.size);
      try {
        const out = await put(transfer.uploadUrl, file.slice(received, end), {
          "Content-Type": "application/octet-stream",
          "Content-Range": `bytes ${received}-${end - 1}/${file.size}`,
        }, (n) => tick(received + n, "Uploading (staged)"));
        received = out.receivedBytes != null ? out.receivedBytes : end;
        failures = 0;
        tick(received, "Uploading (staged)");
      } catch (err) {
        if (err instanceof ApiError && err.status === 409 && err.details.receivedBytes != null) {
          received = err.details.receivedBytes;  // the server holds a different prefix: go on from it
          continue;
        }
        if (!(err instanceof NetworkError) || failures >= 12) throw err;
        failures += 1;
        // Resume after a dropped connection: back off, then ask the server what it has.
        const wait = Math.min(1000 * 2 ** (failures - 1), 30000);
        tick(received, `Connection lost; retrying in ${Math.round(wait / 1000)}s`);
        await sleep(wait);
        try {
          const state = await call("GET", `/api/v1/transfers/${transfer.id}`);
          received = state.receivedBytes;
        } catch (e) {
          // Still offline: the next attempt will ask again.
        }
      }
    }
    tick(file.size, "Verifying");
    return call("POST", `/api/v1/transfers/${transfer.id}/complete`, {});
  }

  async function upload(run, file, directLimit, report) {
    if (file.size > directLimit) return staged(run, file, report);
    try {
      return await direct(run, file, report);
    } catch (err) {
      if (err instanceof ApiError && err.status === 413 && err.details.useStagedTransfer) {
        return staged(run, file, report);
      }
      throw err;
    }
  }

  window.CrowNestUpload = { meter, sha256File, upload };
})();
