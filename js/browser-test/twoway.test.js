"use strict";
// The twoway example (a chat) in real Chromium: the Rust server calls the browser. It asks each
// new page for its name (a request the page answers from its dispatch, here once from the URL
// and once from a prompt the user fills in), and pushes every message to every page (invoke).

const { test, describe, before, after } = require("node:test");
const assert = require("node:assert/strict");
const {
  BUILD_MS,
  buildExamples,
  startExample,
  launchBrowser,
  openPage,
  answerDialog,
  waitForText,
  waitForValue,
} = require("./support.js");

const T = { timeout: 30_000 };

// These two run in the pages: they must not refer to anything of this file.
/** The messages a page shows, as "from: text". */
const messages = () => [...document.querySelectorAll("#messages li")].map((li) => li.textContent);
/** The last message a page shows. */
const lastMessage = () => [...document.querySelectorAll("#messages li")].map((li) => li.textContent).at(-1);

describe("twoway example", () => {
  let server, browser, alice, bob;

  before(
    async () => {
      await buildExamples();
      server = await startExample("twoway");
      browser = await launchBrowser();
    },
    { timeout: BUILD_MS },
  );

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("the server asks each new page for its name (a request answered by dispatch)", T, async () => {
    // Two users: two browser contexts.
    alice = await openPage(browser, server.url + "?name=Alice");
    await waitForText(alice, "#me", "Alice");
    await waitForValue(alice, messages, ["server: Alice joined"]);

    // Bob's page has no name in its URL: its GetName asks him with prompt().
    bob = await openPage(browser);
    const asked = answerDialog(bob, "Bob");
    await bob.goto(server.url);
    assert.deepEqual(await asked, { type: "prompt", message: "Your name?" });
    await waitForText(bob, "#me", "Bob");
    await waitForValue(bob, messages, ["server: Bob joined"]);
    await waitForValue(alice, messages, ["server: Alice joined", "server: Bob joined"]);
  });

  test("a message from one page arrives on both (invoke from the server)", T, async () => {
    await alice.fill("#text", "hello, Bob");
    await alice.click("#say");
    const expected = ["server: Bob joined", "Alice: hello, Bob"];
    await waitForValue(bob, messages, expected);
    await waitForValue(alice, messages, ["server: Alice joined", ...expected]);
    await waitForValue(alice, () => document.querySelector("#text").value, ""); // cleared once sent

    // Say answers how many pages got the message.
    assert.equal(await bob.evaluate(() => rpc.call("Say", ["hi Alice"])), 2);
    await waitForValue(alice, lastMessage, "Bob: hi Alice");
  });

  test("an empty message is refused; the page alerts", T, async () => {
    const dialog = answerDialog(alice);
    await alice.fill("#text", "   ");
    await alice.click("#say");
    assert.deepEqual(await dialog, { type: "alert", message: "InvalidParams: the message is empty" });
  });

  test("a page that leaves is removed (on_close) and the others are told", T, async () => {
    await bob.context().close();
    await waitForValue(alice, lastMessage, "server: Bob left");
    assert.equal(await alice.evaluate(() => rpc.call("Say", ["alone"])), 1);
  });
});

describe("twoway example with a heartbeat of 200 ms", () => {
  let server, browser;

  before(
    async () => {
      await buildExamples();
      server = await startExample("twoway", {
        env: { JRPC_PING_INTERVAL_MS: "200", JRPC_PING_TIMEOUT_MS: "300" },
      });
      browser = await launchBrowser();
    },
    { timeout: BUILD_MS },
  );

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("a page answers the server's pings by itself and stays connected across many intervals", T, async () => {
    const page = await openPage(browser, server.url + "?name=Carol");
    await waitForValue(page, messages, ["server: Carol joined"]);
    // Ten intervals, during which the page sends nothing of its own.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await page.fill("#text", "still here");
    await page.click("#say");
    // The same connection throughout: no second "joined" (a reconnect), nothing lost.
    await waitForValue(page, messages, ["server: Carol joined", "Carol: still here"]);
    assert.doesNotMatch(server.log(), /heartbeat|slow consumer/);
  });
});

