"use strict";
// jrpc.js in real Chromium against the template example's Rust server (one `Echo` method):
// round trips, the promise and callback APIs, calls queued before open, pending calls failing
// when the server dies, and the reconnect when it comes back on the same port.

const { test, describe, before, after } = require("node:test");
const assert = require("node:assert/strict");
const {
  BUILD_MS,
  buildExamples,
  startExample,
  launchBrowser,
  openPage,
  waitForText,
  waitForValue,
} = require("./support.js");

const T = { timeout: 30_000 };
/** JRPC.WebSocket.CONNECTING */
const JRPC_CONNECTING = 0;

describe("template example and the library in the browser", () => {
  let server, browser, page;

  before(
    async () => {
      await buildExamples();
      server = await startExample("template");
      browser = await launchBrowser();
      page = await openPage(browser, server.url);
    },
    { timeout: BUILD_MS },
  );

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("Echo round trip from the page's button", T, async () => {
    await waitForText(page, "#status", "open");
    await page.fill("#message", "Hello from Chromium");
    await page.click("#echo");
    await waitForText(page, "#answer", "Hello from Chromium");
  });

  test("promise API: any JSON value by position or by keyword; remote failures reject", T, async () => {
    const value = { n: 1.5, list: [1, "two", null, true], nested: { ü: "✓" } };
    const results = await page.evaluate(
      async (value) => [await rpc.call("Echo", [value]), await rpc.request("Echo", [], { message: value })],
      value,
    );
    assert.deepEqual(results, [value, value]);
    const failures = await page.evaluate(async () => {
      const describe = (e) => ({ isRemote: e instanceof JRPC.RemoteError, error: e.error });
      return [
        await rpc.call("Nope").catch(describe),
        await rpc.call("Echo", [1, 2]).catch(describe),
      ];
    });
    assert.deepEqual(failures, [
      { isRemote: true, error: "MethodNotFound" },
      { isRemote: true, error: "InvalidParams" },
    ]);
  });

  test("callback API of the original library: cb(response) and eb(response)", T, async () => {
    const seen = await page.evaluate(
      () =>
        new Promise((resolve) => {
          const out = {};
          rpc.request("Echo", ["cb"], {}, (r) => {
            out.cb = r.result;
            rpc.request("Nope", [], {}, null, (e) => {
              out.eb = e.error + ": " + e.result;
              resolve(out);
            });
          });
        }),
    );
    assert.equal(seen.cb, "cb");
    assert.match(seen.eb, /^MethodNotFound: /);
  });

  test("calls made before the connection opens are queued and sent in order", T, async () => {
    const { state, results } = await page.evaluate(async () => {
      const fresh = new JRPC.WebSocket(location.hostname, JRPC_WS_PORT);
      const state = fresh.readyState;
      const calls = [1, 2, 3].map((n) => fresh.call("Echo", [n]));
      const results = await Promise.all(calls);
      fresh.close();
      return { state, results };
    });
    assert.equal(state, JRPC_CONNECTING);
    assert.deepEqual(results, [1, 2, 3]);
  });

  test("pending calls reject with ConnectionClosedError when the server dies; reconnect when it is back", T, async () => {
    // A server of its own, so that killing it leaves the others alone.
    let own = await startExample("template");
    const tab = await openPage(browser, own.url);
    try {
      await waitForText(tab, "#status", "open");

      // Frozen, the server reads nothing: the call is sent and stays unanswered.
      await own.pause();
      await tab.evaluate(() => {
        window.lost = rpc.call("Echo", ["lost"]).then(
          (v) => ({ resolved: v }),
          (e) => ({ name: e.name, isLocal: e instanceof JRPC.LocalError }),
        );
      });
      assert.equal(await tab.evaluate(() => rpc.pendingCount), 1);
      await own.stop();
      assert.deepEqual(await tab.evaluate(() => window.lost), { name: "ConnectionClosedError", isLocal: true });
      await waitForText(tab, "#status", "closed, reconnecting");

      // Calls made while the server is down wait for the reconnect.
      await tab.evaluate(() => {
        window.queued = rpc.call("Echo", ["after the restart"]);
      });
      assert.equal(await tab.evaluate(() => rpc.readyState), JRPC_CONNECTING);

      own = await startExample("template", { httpPort: own.httpPort, wsPort: own.wsPort });
      await waitForText(tab, "#status", "open");
      assert.equal(await tab.evaluate(() => window.queued), "after the restart");
      await waitForValue(tab, () => rpc.pendingCount, 0);
    } finally {
      await tab.context().close();
      await own.stop();
    }
  });
});
