"use strict";
// The original walkthrough's calculator in real Chromium: the page, its buttons, its alert on
// failure, keyword arguments, and the Origin allow-list of the WebSocket. The same cases run
// against each build of it: `math` (tokio) and `math-async-std` (the same calculator.rs on
// async-std).

const { test, describe, before, after } = require("node:test");
const assert = require("node:assert/strict");
const http = require("node:http");
const { once } = require("node:events");
const {
  BUILD_MS,
  buildExamples,
  startExample,
  launchBrowser,
  openPage,
  answerDialog,
  waitForInput,
  rawWebSocket,
} = require("./support.js");

const T = { timeout: 30_000 };

/** The examples that serve the calculator, one per runtime. */
const EXAMPLES = ["math", "math-async-std"];

for (const example of EXAMPLES) describe(`${example} example`, () => {
  let server, browser, page;
  const failures = [];

  before(
    async () => {
      await buildExamples();
      server = await startExample(example);
      browser = await launchBrowser();
      page = await openPage(browser);
      // Whatever fails while the page runs: console errors and failed requests (a 404 of
      // /favicon.ico, which browsers ask for by themselves, shows as both).
      page.on("console", (message) => message.type() === "error" && failures.push(message.text()));
      page.on("response", (response) => response.status() >= 400 && failures.push(`${response.status()} ${response.url()}`));
      await page.goto(server.url);
    },
    { timeout: BUILD_MS },
  );

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** Types a and b, clicks the method's button. */
  async function press(method, a, b) {
    await page.fill("#a", String(a));
    await page.fill("#b", String(b));
    await page.fill("#result", "");
    await page.click("#" + method);
  }

  /** Clicks, and resolves to the text of the alert that follows. */
  async function alertOf(method, a, b) {
    const dialog = answerDialog(page);
    await press(method, a, b);
    const { type, message } = await dialog;
    assert.equal(type, "alert");
    return message;
  }

  test("Add 5 and 10 shows 15 (whole numbers stay whole)", T, async () => {
    await press("Add", 5, 10);
    await waitForInput(page, "#result", "15");
  });

  test("Subtract and Multiply", T, async () => {
    await press("Subtract", 5, 10);
    await waitForInput(page, "#result", "-5");
    await press("Multiply", 5, 10);
    await waitForInput(page, "#result", "50");
    await press("Add", "2.5", " 0.25 ");
    await waitForInput(page, "#result", "2.75");
  });

  test("Divide 1 by 4 shows 0.25", T, async () => {
    await press("Divide", 1, 4);
    await waitForInput(page, "#result", "0.25");
  });

  test("Divide by 0 alerts ZeroDivisionError: division by zero", T, async () => {
    assert.equal(await alertOf("Divide", 1, 0), "ZeroDivisionError: division by zero");
  });

  test("a value that is not a number alerts InvalidParams naming the argument", T, async () => {
    const message = await alertOf("Add", 10, "Foo");
    assert.match(message, /^InvalidParams: argument 'b': .*"Foo".*number/);
  });

  test("keyword and mixed arguments, from the page's own rpc", T, async () => {
    const results = await page.evaluate(async () => [
      await rpc.call("Subtract", [], { a: 10, b: "4" }),
      await rpc.call("Subtract", [10], { b: 4 }),
      await rpc.call("Divide", [], { b: 8, a: 2 }),
    ]);
    assert.deepEqual(results, [6, 6, 0.25]);
    const failure = await page.evaluate(() =>
      rpc.call("Add", [1], { a: 2, b: 3 }).then(
        () => null,
        (e) => ({ name: e.name, error: e.error, result: e.result }),
      ),
    );
    assert.equal(failure.name, "RemoteError");
    assert.equal(failure.error, "InvalidParams");
  });

  test("the page also works from http://localhost:PORT", T, async () => {
    const other = await openPage(browser, `http://localhost:${server.httpPort}/`);
    try {
      assert.equal(await other.evaluate(() => rpc.call("Multiply", ["6", "7"])), 42);
    } finally {
      await other.context().close();
    }
  });

  test("a page of another origin cannot open the WebSocket", T, async () => {
    const wsUrl = `ws://127.0.0.1:${server.wsPort}/`;
    // The example's own page can (the control).
    assert.deepEqual(await rawWebSocket(page, wsUrl), { opened: true, code: 1000 });

    const other = await openPage(browser);
    // A page on another port of the same host: another origin.
    const foreign = http.createServer((req, res) => {
      res.setHeader("Content-Type", "text/html");
      res.end(`<!DOCTYPE html><script src="http://127.0.0.1:${server.httpPort}/jrpc.js"></script>`);
    });
    foreign.listen(0, "127.0.0.1");
    await once(foreign, "listening");
    try {
      // data: URLs send `Origin: null`.
      await other.goto("data:text/html,<p>elsewhere</p>");
      assert.deepEqual(await rawWebSocket(other, wsUrl), { opened: false, code: 1006 });

      await other.goto(`http://127.0.0.1:${foreign.address().port}/`);
      assert.deepEqual(await rawWebSocket(other, wsUrl), { opened: false, code: 1006 });
      // Through the library: the call fails locally, the server never ran it.
      const failure = await other.evaluate(
        (port) =>
          new JRPC.WebSocket("127.0.0.1", port, {}, null, { logger: null }).call("Add", [1, 2]).then(
            () => null,
            (e) => e.name,
          ),
        server.wsPort,
      );
      assert.equal(failure, "ConnectionClosedError");
    } finally {
      await other.context().close();
      foreign.close();
    }
  });

  test("one port for the page and its WebSocket; the original's port answers too", T, async () => {
    const pagePort = await page.evaluate(() => JRPC_WS_PORT);
    assert.equal(pagePort, server.pagePort);
    // On tokio the page's WebSocket is upgraded on the page's own port (async-std: see
    // examples/src/lib.rs, serve_async_std).
    if (example === "math") assert.equal(pagePort, server.httpPort);
    // A page written for the original connects to the separate WebSocket port (9000 by default).
    const sum = await page.evaluate(
      (port) => new JRPC.WebSocket(location.hostname, port).call("Add", [20, 22]),
      server.wsPort,
    );
    assert.equal(sum, 42);
  });

  test("the favicon is served, and nothing the page did failed", T, async () => {
    const favicon = await page.evaluate(() =>
      fetch("/favicon.ico").then((r) => [r.status, r.headers.get("content-type")]),
    );
    assert.deepEqual(favicon, [200, "image/svg+xml"]);
    assert.deepEqual(failures, []);
    // The control: a missing file is a 404, and the listeners see it.
    const missing = await page.evaluate(() => fetch("/nothing-here").then((r) => r.status));
    assert.equal(missing, 404);
    assert.ok(failures.some((f) => f.includes("/nothing-here")), String(failures));
    failures.length = 0;
  });

  test("bound to 0.0.0.0 (JRPC_BIND, as in the Dockerfile) it still serves its own page only", T, async () => {
    const open = await startExample(example, { env: { JRPC_BIND: "0.0.0.0" } });
    const tab = await openPage(browser, `http://localhost:${open.httpPort}/`);
    try {
      assert.equal(await tab.evaluate(() => rpc.call("Add", ["20", "22"])), 42);
      await tab.goto("data:text/html,<p>elsewhere</p>");
      assert.deepEqual(await rawWebSocket(tab, `ws://127.0.0.1:${open.wsPort}/`), { opened: false, code: 1006 });
    } finally {
      await tab.context().close();
      await open.stop();
    }
  });
});
