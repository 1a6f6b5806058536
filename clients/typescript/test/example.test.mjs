// The documented example (examples/run-archive.mjs) runs as written against the live stack.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { targz } from "./helpers.mjs";

test("examples/run-archive.mjs", () => {
  const out = mkdtempSync(join(tmpdir(), "crownest-ex-"));
  const archive = targz({ "build.py": "import os\nos.makedirs('dist', exist_ok=True)\nopen('dist/a.txt','w').write('A')\nprint('built')\n" });
  const stdout = execFileSync("node", ["examples/run-archive.mjs", archive, out], { encoding: "utf8" });
  assert.match(stdout, /built\n/);
  assert.match(stdout, /: succeeded \(exit code 0\)/);
  assert.match(stdout, /artifact dist\/a.txt/);
  assert.equal(readFileSync(join(out, "dist/a.txt"), "utf8"), "A");
});
