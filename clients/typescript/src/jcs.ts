// RFC 8785, the JSON Canonicalization Scheme (JCS): the bytes every CrowNest digest over JSON is
// taken over (docs/evidence.md). ECMAScript's own JSON.stringify already writes numbers and
// escapes strings the way JCS requires, and sort()'s default order is JCS's (UTF-16 code
// units), so JCS is JSON.stringify with sorted keys, refusing what I-JSON forbids.

/** The RFC 8785 (JCS) serialisation of a JSON value. Throws for values JSON cannot hold
 * faithfully: NaN, ±Infinity, bigint, a string with a lone surrogate, a cycle. */
export function canonicalize(value: unknown): string {
  return serialize(value, new Set());
}

/** The `canonicalization` a bundle carries when its digest and event lines are JCS. */
export const JCS = "RFC8785";

function serialize(value: unknown, seen: Set<object>): string {
  if (value !== null && typeof value === "object" && typeof (value as any).toJSON === "function") {
    value = (value as any).toJSON();
  }
  if (value instanceof Number || value instanceof String || value instanceof Boolean) value = value.valueOf();
  switch (typeof value) {
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`JCS: ${value} is not a JSON number`);
      return JSON.stringify(value); // -0 -> "0", 1e21 -> "1e+21", shortest round-trip digits
    case "string":
      if (!wellFormed(value)) throw new TypeError("JCS: a string with a lone surrogate");
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      throw new TypeError("JCS: a bigint is not a JSON number");
    case "object":
      break;
    default: // undefined, functions, symbols: dropped from objects, null in arrays (as JSON.stringify)
      return "null";
  }
  if (value === null) return "null";
  const obj = value as Record<string, unknown>;
  if (seen.has(obj)) throw new TypeError("JCS: a circular reference");
  seen.add(obj);
  let out: string;
  if (Array.isArray(obj)) {
    out = `[${obj.map((item) => serialize(item, seen)).join(",")}]`;
  } else {
    const members: string[] = [];
    for (const key of Object.keys(obj).sort()) {
      const item = obj[key];
      if (item === undefined || typeof item === "function" || typeof item === "symbol") continue;
      if (!wellFormed(key)) throw new TypeError("JCS: a key with a lone surrogate");
      members.push(`${JSON.stringify(key)}:${serialize(item, seen)}`);
    }
    out = `{${members.join(",")}}`;
  }
  seen.delete(obj);
  return out;
}

function wellFormed(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      return false;
    }
  }
  return true;
}
