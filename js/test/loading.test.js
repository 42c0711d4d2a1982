"use strict";
// The three ways to load the library: classic script, CommonJS, ES module (Node and browser-like).

const { test } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const vm = require("node:vm");
const { pathToFileURL } = require("node:url");

const root = path.join(__dirname, "..");
const source = fs.readFileSync(path.join(root, "jrpc.js"), "utf8");
const API = [
  "CancelledError",
  "ConnectionClosedError",
  "LocalError",
  "RemoteError",
  "Request",
  "Response",
  "TimeoutError",
  "WebSocket",
  "protocolVersion",
  "version",
];

test("classic script: defines the global JRPC and nothing else", () => {
  // A bare context, as a page's window: no module, no require.
  const context = vm.createContext({});
  const before = new Set(Object.getOwnPropertyNames(vm.runInContext("globalThis", context)));
  vm.runInContext(source, context, { filename: "jrpc.js" });
  const added = Object.getOwnPropertyNames(vm.runInContext("globalThis", context)).filter((k) => !before.has(k));
  assert.deepEqual(added, ["JRPC"]);
  assert.deepEqual([...vm.runInContext("Object.keys(JRPC).sort()", context)], API); // copied out of the other realm
});

test("CommonJS: require returns the API", () => {
  const JRPC = require("../jrpc.js");
  assert.deepEqual(Object.keys(JRPC).sort(), API);
  assert.equal(JRPC.protocolVersion, 1);
});

test("ES module entry in Node: named exports and default export", async () => {
  const mod = await import(pathToFileURL(path.join(root, "jrpc.mjs")).href);
  assert.deepEqual(Object.keys(mod).sort(), ["default", ...API].sort());
  assert.equal(mod.WebSocket, mod.default.WebSocket);
  assert.equal(mod.default, require("../jrpc.js"));
});

test("ES module entry as a browser sees it: jrpc.js evaluated as a module", async () => {
  // In a browser `import "./jrpc.js"` evaluates the file as an ES module (strict, no `module`,
  // top-level `this` undefined). A package with "type": "module" makes Node do the same.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jrpc-esm-"));
  try {
    fs.writeFileSync(path.join(dir, "package.json"), '{"type":"module"}');
    fs.copyFileSync(path.join(root, "jrpc.js"), path.join(dir, "jrpc.js"));
    fs.copyFileSync(path.join(root, "jrpc.mjs"), path.join(dir, "jrpc.mjs"));
    const saved = globalThis.JRPC;
    const mod = await import(pathToFileURL(path.join(dir, "jrpc.mjs")).href);
    assert.deepEqual(Object.keys(mod).sort(), ["default", ...API].sort());
    assert.notEqual(mod.default, saved); // a fresh evaluation, not the CommonJS copy
    assert.equal(typeof mod.WebSocket, "function");
    globalThis.JRPC = saved;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("package.json: private, no dependencies, test script", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  assert.equal(pkg.name, "jrpc-browser");
  assert.equal(pkg.private, true);
  assert.equal(pkg.dependencies, undefined);
  assert.equal(pkg.scripts.test, "node --test test/");
});
