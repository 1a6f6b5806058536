const test = require("node:test");
const assert = require("node:assert");
const { greet } = require("../src/greet");

test("greets by name", () => {
  assert.strictEqual(greet("CrowNest"), "Hello, CrowNest!");
});

test("greets the world", () => {
  assert.strictEqual(greet("world"), "Hello, world!");
});
