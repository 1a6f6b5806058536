// Shared by the live tests: the client for CROWNEST_URL/CROWNEST_TOKEN and a .tar.gz maker.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Client } from "../dist/index.js";

export const URL_ = process.env.CROWNEST_URL;
export const TOKEN = process.env.CROWNEST_TOKEN;
if (!URL_ || !TOKEN) throw new Error("set CROWNEST_URL and CROWNEST_TOKEN (a live stack)");

export const client = (opts = {}) => new Client({ baseUrl: URL_, token: TOKEN, ...opts });

/** Write {path: content} into a temp dir and pack it with tar; returns the .tgz path. */
export function targz(files) {
  const dir = mkdtempSync(join(tmpdir(), "crownest-ts-"));
  const src = join(dir, "src");
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(src, name)), { recursive: true });
    writeFileSync(join(src, name), content);
  }
  const out = join(dir, "repo.tgz");
  execFileSync("tar", ["-czf", out, "-C", src, "."]);
  return out;
}

export const bytesOf = (path) => readFileSync(path);

/** A fetch that cuts SSE bodies after `cutAfter` bytes, `cuts` times: a dropped connection. */
export function cuttingFetch(cutAfter, cuts) {
  const state = { cuts: 0 };
  const fetchImpl = async (url, init) => {
    const resp = await fetch(url, init);
    if (!String(url).includes("/events/stream") || state.cuts >= cuts) return resp;
    state.cuts += 1;
    const reader = resp.body.getReader();
    let sent = 0;
    const body = new ReadableStream({
      async pull(controller) {
        const { value, done } = await reader.read();
        if (done) return controller.close();
        if (sent + value.length >= cutAfter) {
          controller.enqueue(value.slice(0, cutAfter - sent));
          reader.cancel();
          controller.error(new TypeError("terminated"));
          return;
        }
        sent += value.length;
        controller.enqueue(value);
      },
    });
    return new Response(body, { status: resp.status, headers: resp.headers });
  };
  return { fetchImpl, state };
}
