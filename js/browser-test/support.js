"use strict";
// Shared by the browser tests: builds the Rust examples, runs them as child processes on free
// ports, and drives Debian's Chromium through playwright-core (which never downloads a browser).

const { spawn, execFile } = require("node:child_process");
const { once } = require("node:events");
const fs = require("node:fs");
const path = require("node:path");
const { promisify, isDeepStrictEqual } = require("node:util");
const assert = require("node:assert/strict");
const { chromium } = require("playwright-core");

const REPO = path.resolve(__dirname, "..", "..");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** How long any single condition may take to come true. */
const WAIT_MS = 10_000;
/** A cold build of the examples, on a small machine. */
const BUILD_MS = 15 * 60_000;

const run = promisify(execFile);
let targetDir = null;

/** `cargo build --examples -p jrpc-examples` (a no-op when up to date); resolves the target dir. */
async function buildExamples() {
  try {
    await run("cargo", ["build", "--quiet", "--examples", "-p", "jrpc-examples"], {
      cwd: REPO,
      maxBuffer: 64 << 20,
      timeout: BUILD_MS,
    });
  } catch (err) {
    throw new Error("cargo build --examples -p jrpc-examples failed:\n" + (err.stderr || err.message));
  }
  if (targetDir === null) {
    const { stdout } = await run("cargo", ["metadata", "--format-version", "1", "--no-deps"], {
      cwd: REPO,
      maxBuffer: 64 << 20,
    });
    targetDir = JSON.parse(stdout).target_directory;
  }
}

/**
 * Starts example `name` (built by `buildExamples`) and waits for its "listening" line.
 * Ports 0 (the default) let it pick free ones; pass the ports of an earlier run to restart it
 * on the same ones; `env` adds environment variables. Resolves to {child, httpPort, pagePort, wsPort, url, log(),
 * stop(), pause()}: `pagePort` is the port of the page's own WebSocket (the HTTP port itself when
 * it serves both), `wsPort` that of `JRPC_WS_PORT`, the original's separate WebSocket port.
 */
async function startExample(name, { httpPort = 0, wsPort = 0, env: extra = {} } = {}) {
  assert.ok(targetDir, "buildExamples() first");
  const env = { ...process.env, JRPC_HTTP_PORT: String(httpPort), JRPC_WS_PORT: String(wsPort), RUST_LOG: "info" };
  delete env.JRPC_BIND;
  delete env.JRPC_ALLOW_ORIGINS;
  Object.assign(env, extra);
  const child = spawn(path.join(targetDir, "debug", "examples", name), [], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const killAtExit = () => child.kill("SIGKILL");
  process.on("exit", killAtExit);
  const exited = once(child, "exit");
  exited.then(() => process.off("exit", killAtExit));

  let output = "";
  const listening = new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk;
      // "open http://H:P/ (JRPC WebSocket on ws://H:Q/)", or on one port with the original's
      // port besides: "(JRPC WebSocket on ws://H:P/, and on ws://H:Q/ for pages written for the original)".
      const m = /open http:\/\/[^:/]+:(\d+)\/ \(JRPC WebSocket on ws:\/\/[^:/]+:(\d+)\/(?:, and on ws:\/\/[^:/]+:(\d+)\/[^)]*)?\)/.exec(output);
      if (m) resolve({ httpPort: Number(m[1]), pagePort: Number(m[2]), wsPort: Number(m[3] ?? m[2]) });
    };
    child.stdout.setEncoding("utf8").on("data", onData);
    child.stderr.setEncoding("utf8").on("data", onData);
    child.on("error", reject);
    exited.then(([code, signal]) => reject(new Error(`${name} exited (${code ?? signal}) before listening:\n${output}`)));
  });
  const ports = await withTimeout(listening, WAIT_MS, () => `${name} did not print its URL:\n${output}`).catch((err) => {
    child.kill("SIGKILL");
    throw err;
  });
  return {
    child,
    ...ports,
    url: `http://127.0.0.1:${ports.httpPort}/`,
    log: () => output,
    /** Freezes the process (resolves once every thread has stopped): connections stay open, nothing is answered. */
    async pause() {
      child.kill("SIGSTOP");
      await waitFor(() => isStopped(child.pid), `${name} did not stop`);
    },
    /** Kills the process (even a paused one) and waits for its exit. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

/** Whether every thread of process `pid` is stopped (Linux's /proc; elsewhere assumed). */
function isStopped(pid) {
  let tasks;
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return true;
  }
  return tasks.every((tid) => {
    try {
      // "tid (comm) S ...": the state follows the last ')'.
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      return /^[Tt]/.test(stat.slice(stat.lastIndexOf(")") + 2));
    } catch {
      return true; // the thread has gone
    }
  });
}

/** Polls `condition()` (in Node) until true; fails with `message` after WAIT_MS. */
async function waitFor(condition, message) {
  const deadline = Date.now() + WAIT_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(message + ` (waited ${WAIT_MS} ms)`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Headless Debian Chromium. */
function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
}

/**
 * A new page in a context of its own (a user of its own), with WAIT_MS as the timeout of its
 * actions, opened at `url` if given.
 */
async function openPage(browser, url) {
  const context = await browser.newContext();
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  if (url) await page.goto(url);
  return page;
}

/**
 * Answers the next dialog of `page` (alert, prompt, ...) as soon as it opens: accepts it with
 * `promptText` if given, else dismisses it. Resolves to {type, message}.
 *
 * The answer must come from the listener itself: while a dialog is open the page is frozen,
 * and an action that opened it (a click, a goto) does not finish until it is answered.
 */
function answerDialog(page, promptText) {
  const seen = new Promise((resolve, reject) => {
    page.once("dialog", (dialog) => {
      resolve({ type: dialog.type(), message: dialog.message() });
      const answered = promptText === undefined ? dialog.dismiss() : dialog.accept(promptText);
      answered.catch(reject);
    });
  });
  return withTimeout(seen, WAIT_MS, "no dialog opened");
}

/** Rejects with `message()` if `promise` takes longer than `ms`. */
function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(typeof message === "function" ? message() : message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Polls `read(arg)`, evaluated in the page, until it deep-equals `expected`; fails with the
 * last value seen after WAIT_MS.
 */
async function waitForValue(page, read, expected, arg) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const actual = await page.evaluate(read, arg);
    if (isDeepStrictEqual(actual, expected)) return;
    if (Date.now() > deadline) assert.deepEqual(actual, expected, `still not so after ${WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The value of the input `selector`, once it equals `expected`. */
function waitForInput(page, selector, expected) {
  return waitForValue(page, (sel) => document.querySelector(sel).value, expected, selector);
}

/** The text of `selector`, once it equals `expected`. */
function waitForText(page, selector, expected) {
  return waitForValue(page, (sel) => document.querySelector(sel).textContent, expected, selector);
}

/**
 * In `page`, opens a raw WebSocket to `wsUrl` and tells whether it opened and how it closed:
 * {opened, code}.
 */
function rawWebSocket(page, wsUrl) {
  return page.evaluate(
    (url) =>
      new Promise((resolve) => {
        const ws = new WebSocket(url);
        let opened = false;
        ws.onopen = () => {
          opened = true;
          ws.close(1000);
        };
        ws.onclose = (e) => resolve({ opened, code: e.code });
      }),
    wsUrl,
  );
}

module.exports = {
  REPO,
  WAIT_MS,
  BUILD_MS,
  buildExamples,
  startExample,
  launchBrowser,
  openPage,
  answerDialog,
  withTimeout,
  waitForValue,
  waitForInput,
  waitForText,
  rawWebSocket,
};
