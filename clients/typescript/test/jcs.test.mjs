// The SDK's RFC 8785 (JCS) serialisation against the npm `canonicalize` package, an independent
// implementation: the same bytes for the values a bundle can hold, and the digest of a bundle.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { JCS, canonicalize as ours, evidenceSha256 } from "../dist/index.js";
import { makeKey, makeRun } from "./evidence-fixture.mjs";

const FLOATS = [1.0, 1e21, 0.1 + 0.2, -0, 1e-7, 5e-324, 1.7976931348623157e308, 123456789012345680000,
  4.5, 0.000001, 1e-6 / 3, 2 ** 53, -(2 ** 53) + 1, 333333333.3333333, 1e16, 9.999999999999999e20];
const STRINGS = ["", "é ✓ Ωmega", "line\u2028sep\u2029par", "😀 emoji", "\u0000\u001f\u007f\b\f\n\r\t",
  "\"quoted\" \\back/slash", "\ue000 private", "\ud83d\ude00 pair"];

const sample = {
  floats: FLOATS,
  strings: STRINGS,
  // JCS orders keys by UTF-16 code units: "😀" (D83D…) before "\ue000", unlike code point order.
  keys: { "\ue000": 1, "😀": 2, "a": 3, "B": 4, "é": 5, "\u2028": 6, "10": 7, "9": 8, "": 9 },
  nested: [{ z: [true, false, null], a: { y: -0, x: 1.0 } }, [], {}],
};

test("the SDK's JCS bytes equal npm canonicalize's for floats, strings and key order", () => {
  for (const value of [...FLOATS, ...STRINGS, sample, true, false, null, [], {}]) {
    assert.equal(ours(value), canonicalize(value), JSON.stringify(value));
  }
  assert.equal(ours(1.0), "1");
  assert.equal(ours(1e21), "1e+21");
  assert.equal(ours(0.1 + 0.2), "0.30000000000000004");
  assert.equal(ours(-0), "0");
  assert.equal(ours({ "\ue000": 1, "😀": 2 }), '{"😀":2,"\ue000":1}');
  assert.equal(ours("\u2028"), '"\u2028"'); // kept as is, not escaped
});

test("what JSON cannot hold faithfully is refused, as canonicalize refuses it", () => {
  for (const bad of [NaN, Infinity, -Infinity, "\ud800 lone", { ["\udc00"]: 1 }]) {
    assert.throws(() => canonicalize(bad));
    assert.throws(() => ours(bad), TypeError);
  }
  assert.throws(() => ours(10n), TypeError);
  const loop = {};
  loop.self = loop;
  assert.throws(() => ours(loop), TypeError);
});

test("evidenceSha256 is the sha256 of the bundle's JCS bytes, whatever its key order", async () => {
  const { bundle } = makeRun({ key: makeKey() });
  bundle.limits = { cpus: 1.0, memory: "1g", big: 1e21, sum: 0.1 + 0.2, zero: -0 };
  bundle.command = "echo 'é\u2028😀'";
  const want = createHash("sha256").update(canonicalize(bundle), "utf8").digest("hex");
  assert.equal(bundle.canonicalization, JCS);
  assert.equal(await evidenceSha256(bundle), want);
  const reordered = Object.fromEntries(Object.entries(bundle).reverse());
  assert.equal(await evidenceSha256(reordered), want);
  // As served: Python writes cpus as 1.0 and 1e21 as 1e+21; parsed, they are the same numbers.
  const served = JSON.parse(JSON.stringify(bundle).replace('"cpus":1', '"cpus":1.0'));
  assert.equal(await evidenceSha256(served), want);
});
