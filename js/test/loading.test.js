"use strict";
// The three ways to load the library: classic script, CommonJS, ES module (Node and browser-like).

const { test } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const vm = require("node:vm");
const { pathToFileURL } = require("node:url");
const { spawnSync } = require("node:child_process");

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

test("CommonJS: require returns the API and defines no global", () => {
  const JRPC = require("../jrpc.js");
  assert.deepEqual(Object.keys(JRPC).sort(), API);
  assert.equal(JRPC.protocolVersion, 1);
  assert.equal(globalThis.JRPC, undefined);
});

test("importing prints nothing and defines no global, in CommonJS and as an ES module", () => {
  const probes = [
    ["--eval", 'require("./jrpc.js"); if ("JRPC" in globalThis) process.exit(3);'],
    ["--input-type=module", "--eval", 'await import("./jrpc.mjs"); if ("JRPC" in globalThis) process.exit(3);'],
  ];
  for (const args of probes) {
    const run = spawnSync(process.execPath, args, { cwd: root, encoding: "utf8" });
    assert.equal(run.status, 0, args.join(" ") + ": " + run.stderr);
    assert.equal(run.stdout + run.stderr, "", args.join(" "));
  }
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
    const mod = await import(pathToFileURL(path.join(dir, "jrpc.mjs")).href);
    assert.deepEqual(Object.keys(mod).sort(), ["default", ...API].sort());
    assert.notEqual(mod.default, require("../jrpc.js")); // a fresh evaluation, not the CommonJS copy
    assert.equal(typeof mod.WebSocket, "function");
    assert.equal(globalThis.JRPC, undefined); // no global: handed over under a registry symbol
    assert.ok(!Object.keys(globalThis).some((key) => /jrpc/i.test(key)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("package.json: publishable, in step with the Rust crates, no runtime dependencies", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  assert.equal(pkg.name, "jrpc-browser");
  assert.equal(pkg.private, undefined);
  assert.equal(pkg.license, "MIT");
  assert.equal(pkg.repository.url, "git+https://github.com/jrpc-rs/jrpc.git");
  assert.equal(pkg.dependencies, undefined);
  assert.equal(pkg.scripts.test, "node --test test/");
  // One version for the npm package, the library's JRPC.version and the crates.
  const cargo = fs.readFileSync(path.join(root, "..", "Cargo.toml"), "utf8");
  const crates = /\[workspace\.package\][^[]*?\nversion = "([^"]+)"/.exec(cargo);
  assert.ok(crates, "Cargo.toml has a workspace version");
  assert.equal(pkg.version, crates[1]);
  assert.equal(require("../jrpc.js").version, pkg.version);
  // The license file shipped with the package is the repository's.
  assert.ok(pkg.files.includes("LICENSE"));
  assert.equal(fs.readFileSync(path.join(root, "LICENSE"), "utf8"), fs.readFileSync(path.join(root, "..", "LICENSE"), "utf8"));
});
