"use strict";
// The login example in real Chromium: signed out, the page's WebSocket is refused (401);
// signed in (a form that sets a session cookie), the methods answer for that user; two users
// in two browser contexts see their own counters; signed out again, refused again.

const { test, describe, before, after } = require("node:test");
const assert = require("node:assert/strict");
const http = require("node:http");
const {
  BUILD_MS,
  buildExamples,
  startExample,
  launchBrowser,
  openPage,
  waitForText,
  rawWebSocket,
} = require("./support.js");

const T = { timeout: 30_000 };

/** The status of a WebSocket handshake sent from Node with `headers` added. */
function handshakeStatus(port, headers = {}) {
  return new Promise((resolve, reject) => {
    const request = http.get({
      host: "127.0.0.1",
      port,
      path: "/",
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        ...headers,
      },
    });
    request.on("upgrade", (response, socket) => {
      socket.destroy();
      resolve(response.statusCode);
    });
    request.on("response", (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.on("error", reject);
  });
}

describe("login example", () => {
  let server, browser;

  before(
    async () => {
      await buildExamples();
      server = await startExample("login");
      browser = await launchBrowser();
    },
    { timeout: BUILD_MS },
  );

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** A new user (a browser context of its own) signed in as `name`, on the app page. */
  async function signIn(name) {
    const page = await openPage(browser, server.url);
    await page.fill("#name", name);
    await page.click("#signin");
    // The form posts, the server redirects to / which is now the app page.
    await page.waitForSelector("#user");
    await waitForText(page, "#user", name);
    return page;
  }

  test("signed out: the form, and the WebSocket is refused", T, async () => {
    const page = await openPage(browser, server.url);
    try {
      assert.equal(await page.locator("#signin").count(), 1);
      const wsUrl = `ws://127.0.0.1:${server.httpPort}/`;
      assert.deepEqual(await rawWebSocket(page, wsUrl), { opened: false, code: 1006 });
      // What the browser does not show: the refusal is a 401, and an unknown session too.
      assert.equal(await handshakeStatus(server.httpPort), 401);
      assert.equal(await handshakeStatus(server.httpPort, { Cookie: "jrpc_session=forged" }), 401);
    } finally {
      await page.context().close();
    }
  });

  test("signed in: the methods answer for the user; two users see their own counters", T, async () => {
    const alice = await signIn("alice");
    const bob = await signIn("bob");
    try {
      await waitForText(alice, "#count", "0");
      await alice.click("#increment");
      await waitForText(alice, "#count", "1");
      await alice.click("#increment");
      await waitForText(alice, "#count", "2");

      await waitForText(bob, "#count", "0");
      await bob.click("#increment");
      await waitForText(bob, "#count", "1");

      // A new connection of alice's (the page reloaded) finds her counter.
      await alice.reload();
      await alice.waitForSelector("#user");
      await waitForText(alice, "#user", "alice");
      await waitForText(alice, "#count", "2");
      assert.deepEqual(await rawWebSocket(alice, `ws://127.0.0.1:${server.httpPort}/`), { opened: true, code: 1000 });
      // The session cookie is HttpOnly: the page's scripts cannot read it.
      assert.equal(await alice.evaluate(() => document.cookie), "");
    } finally {
      await alice.context().close();
      await bob.context().close();
    }
  });

  test("signed out again: the WebSocket is refused again", T, async () => {
    const carol = await signIn("carol");
    try {
      await carol.click("#signout");
      await carol.waitForSelector("#signin");
      assert.deepEqual(await rawWebSocket(carol, `ws://127.0.0.1:${server.httpPort}/`), { opened: false, code: 1006 });
    } finally {
      await carol.context().close();
    }
  });
});
