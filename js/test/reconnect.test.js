"use strict";
// Automatic reconnect with exponential backoff and jitter, driven by node:test's fake timers.

const { test, describe, mock, beforeEach, afterEach } = require("node:test");
const assert = require("node:assert/strict");
const { JRPC, connect, settle } = require("../test-support/fake-websocket.js");

beforeEach(() => mock.timers.enable({ apis: ["setTimeout"] }));
afterEach(() => {
  mock.timers.reset();
  mock.restoreAll();
});

const noJitter = { initialDelay: 100, maxDelay: 500, factor: 2, jitter: 0 };

/** Ticks `ms` and returns how many sockets exist afterwards. */
function tick(FakeWebSocket, ms) {
  mock.timers.tick(ms);
  return FakeWebSocket.instances.length;
}

describe("reconnect", () => {
  test("is off by default", () => {
    const { ws, FakeWebSocket } = connect();
    ws.serverClose();
    assert.equal(tick(FakeWebSocket, 10 ** 7), 1);
  });

  test("reconnects after initialDelay, to the same URL", () => {
    const { ws, FakeWebSocket } = connect({ reconnect: noJitter });
    ws.serverClose();
    assert.equal(tick(FakeWebSocket, 99), 1);
    assert.equal(tick(FakeWebSocket, 1), 2);
    assert.equal(FakeWebSocket.instances[1].url, ws.url);
  });

  test("backs off exponentially up to maxDelay while attempts fail, and resets after an open", () => {
    const delays = [];
    const { ws, FakeWebSocket } = connect({ reconnect: noJitter, onClose: (e, info) => delays.push(info.delay) });
    ws.serverClose();
    const expected = [100, 200, 400, 500, 500];
    for (const delay of expected) {
      const before = FakeWebSocket.instances.length;
      assert.equal(tick(FakeWebSocket, delay - 1), before, "not before " + delay);
      assert.equal(tick(FakeWebSocket, 1), before + 1, "at " + delay);
      FakeWebSocket.instances[before].serverClose(1006); // refused
    }
    assert.deepEqual(delays, [...expected, 500]);
    // A successful open starts the backoff over.
    tick(FakeWebSocket, 500);
    const live = FakeWebSocket.instances.at(-1);
    live.open();
    live.serverClose();
    assert.equal(delays.at(-1), 100);
  });

  test("reconnect: true uses the defaults (1 s, x2, 30 s max, jitter 0.5)", () => {
    mock.method(Math, "random", () => 0);
    const delays = [];
    const { ws, FakeWebSocket } = connect({ reconnect: true, onClose: (e, info) => delays.push(info.delay) });
    ws.serverClose();
    for (let i = 0; i < 7; i++) {
      tick(FakeWebSocket, delays.at(-1));
      FakeWebSocket.instances.at(-1).serverClose();
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  test("jitter takes a random part of up to `jitter` off each delay", () => {
    mock.method(Math, "random", () => 0.5);
    const delays = [];
    const { ws, FakeWebSocket } = connect({
      reconnect: { initialDelay: 1000, factor: 2, maxDelay: 10000, jitter: 0.5 },
      onClose: (e, info) => delays.push(info.delay),
    });
    ws.serverClose();
    assert.equal(delays[0], 750);
    assert.equal(tick(FakeWebSocket, 749), 1);
    assert.equal(tick(FakeWebSocket, 1), 2);
    FakeWebSocket.instances[1].serverClose();
    assert.equal(delays[1], 1500);
  });

  test("pending calls fail on the drop; calls made while reconnecting go out on reconnect", async () => {
    const { rpc, ws, FakeWebSocket } = connect({ reconnect: noJitter });
    const sentBefore = rpc.call("Sent");
    ws.serverClose();
    await assert.rejects(sentBefore, JRPC.ConnectionClosedError);
    assert.equal(rpc.readyState, JRPC.WebSocket.CONNECTING);

    const queued = rpc.call("Queued");
    rpc.invoke("Note");
    tick(FakeWebSocket, 100);
    const next = FakeWebSocket.instances[1];
    next.serverClose(); // the first attempt is refused: queued calls wait on
    assert.equal(rpc.pendingCount, 1);
    tick(FakeWebSocket, 200);
    const live = FakeWebSocket.instances[2];
    live.open();
    // Ids are never reused, across connections too.
    assert.deepEqual(
      live.sentMessages().map((m) => [m.method, m.id]),
      [
        ["Queued", 2],
        ["Note", null],
      ],
    );
    live.receive({ id: 2, result: "after reconnect" });
    assert.equal(await queued, "after reconnect");
  });

  test("onOpen runs on every (re)connection; onClose tells whether a reconnect follows", () => {
    const events = [];
    const { ws, FakeWebSocket } = connect({
      reconnect: noJitter,
      onOpen: () => events.push("open"),
      onClose: (e, info) => events.push("close:" + info.reconnecting),
    });
    ws.serverClose();
    tick(FakeWebSocket, 100);
    FakeWebSocket.instances[1].open();
    assert.deepEqual(events, ["open", "close:true", "open"]);
  });

  test("rpc.close() stops reconnecting for good and fails the queued calls", async () => {
    const { rpc, ws, FakeWebSocket } = connect({ reconnect: noJitter });
    ws.serverClose();
    const queued = rpc.call("Queued");
    rpc.close();
    await assert.rejects(queued, JRPC.ConnectionClosedError);
    assert.equal(rpc.readyState, JRPC.WebSocket.CLOSED);
    assert.equal(tick(FakeWebSocket, 10 ** 7), 1);
  });

  test("rpc.close() on an open connection does not reconnect", async () => {
    const { rpc, FakeWebSocket } = connect({ reconnect: noJitter });
    rpc.close();
    await settle(); // the close event arrives
    assert.equal(tick(FakeWebSocket, 10 ** 7), 1);
  });

  test("rpc.close() called from onClose cancels the pending reconnect", () => {
    const { ws, FakeWebSocket } = connect({
      reconnect: noJitter,
      onClose() {
        this.close();
      },
    });
    ws.serverClose();
    assert.equal(tick(FakeWebSocket, 10 ** 7), 1);
  });

  test("a reconnect attempt whose constructor throws is retried with backoff", () => {
    const { ws, FakeWebSocket, logger } = connect({ reconnect: noJitter });
    FakeWebSocket.failNext = 1;
    ws.serverClose();
    assert.equal(tick(FakeWebSocket, 100), 1); // attempt 1 threw
    assert.match(logger.warnings().join("\n"), /reconnect to .* failed/);
    assert.equal(tick(FakeWebSocket, 199), 1);
    assert.equal(tick(FakeWebSocket, 1), 2);
  });

  test("events of an old socket are ignored after a reconnect", async () => {
    let release;
    const { rpc, ws, FakeWebSocket, logger } = connect({
      reconnect: noJitter,
      dispatch: { Slow: () => new Promise((r) => (release = r)), Echo: (a) => a[0] },
    });
    ws.receive({ method: "Slow", id: 1 });
    ws.serverClose();
    tick(FakeWebSocket, 100);
    const live = FakeWebSocket.instances[1];
    live.open();
    const call = rpc.call("A");
    // The old socket misbehaves: a message, a close. Neither counts.
    ws.onmessage({ data: JSON.stringify({ id: 1, result: "from the old socket" }) });
    ws.onclose({ code: 1006 });
    assert.equal(rpc.isOpen, true);
    // The answer to a request from the old connection is not sent on the new one.
    release("late");
    await settle();
    assert.deepEqual(live.sentMessages().map((m) => m.method), ["A"]);
    assert.ok(logger.entries.some((e) => /dropped/.test(e.text)));
    live.receive({ id: 1, result: "new socket" });
    assert.equal(await call, "new socket");
  });
});
