"use strict";
// The public API: constructor forms, callbacks and promises, queueing, timeouts, cancellation,
// close, dispatch methods, state and hooks.

const { test, describe, mock, afterEach } = require("node:test");
const assert = require("node:assert/strict");
const { JRPC, connect, makeFakeWebSocket, makeLogger, settle } = require("../test-support/fake-websocket.js");

afterEach(() => mock.timers.reset());

describe("constructor", () => {
  test("original form (host, port, dispatch, onOpen) connects to ws://host:port/", () => {
    const FakeWebSocket = makeFakeWebSocket();
    const dispatch = { Add: () => 0 };
    let opened = 0;
    const rpc = new JRPC.WebSocket("localhost", 9000, dispatch, () => opened++, { WebSocket: FakeWebSocket, logger: null });
    const [ws] = FakeWebSocket.instances;
    assert.equal(ws.url, "ws://localhost:9000/");
    assert.equal(rpc.dispatch, dispatch);
    assert.equal(rpc.socket, ws);
    ws.open();
    assert.equal(opened, 1);
  });

  test("IPv6 hosts get brackets", () => {
    const FakeWebSocket = makeFakeWebSocket();
    new JRPC.WebSocket("::1", "9000", null, null, { WebSocket: FakeWebSocket, logger: null });
    assert.equal(FakeWebSocket.instances[0].url, "ws://[::1]:9000/");
  });

  test("URL form with options; http(s) URLs map to ws(s)", () => {
    const FakeWebSocket = makeFakeWebSocket();
    new JRPC.WebSocket("wss://example.test:8443/rpc?x=1", { WebSocket: FakeWebSocket });
    new JRPC.WebSocket("https://example.test/rpc", { WebSocket: FakeWebSocket });
    new JRPC.WebSocket(new URL("ws://example.test/u"), { WebSocket: FakeWebSocket });
    assert.deepEqual(
      FakeWebSocket.instances.map((ws) => ws.url),
      ["wss://example.test:8443/rpc?x=1", "wss://example.test/rpc", "ws://example.test/u"],
    );
  });

  test("a path is resolved against the page's location", () => {
    const FakeWebSocket = makeFakeWebSocket();
    globalThis.location = { protocol: "https:", host: "app.test:444" };
    try {
      new JRPC.WebSocket("/rpc", { WebSocket: FakeWebSocket });
      new JRPC.WebSocket("//other.test/x", { WebSocket: FakeWebSocket });
    } finally {
      delete globalThis.location;
    }
    assert.equal(FakeWebSocket.instances[0].url, "wss://app.test:444/rpc");
    assert.equal(FakeWebSocket.instances[1].url, "wss://other.test/x");
  });

  test("subprotocols are passed on", () => {
    const FakeWebSocket = makeFakeWebSocket();
    new JRPC.WebSocket("ws://h/", { WebSocket: FakeWebSocket, protocols: ["jrpc"] });
    assert.deepEqual(FakeWebSocket.instances[0].protocols, ["jrpc"]);
  });

  test("without any WebSocket implementation it throws a TypeError", () => {
    assert.equal(globalThis.WebSocket, undefined); // Node 20 has none
    assert.throws(() => new JRPC.WebSocket("ws://h/", {}), TypeError);
  });

  test("invalid reconnect options throw a RangeError", () => {
    const FakeWebSocket = makeFakeWebSocket();
    assert.throws(() => new JRPC.WebSocket("ws://h/", { WebSocket: FakeWebSocket, reconnect: { factor: 0.5 } }), RangeError);
  });
});

describe("original callback API", () => {
  test("request(method, args, kwargs, cb, eb): cb gets the response object", async () => {
    const { rpc, ws } = connect();
    const got = [];
    rpc.request("Add", [5, 10], {}, (response) => got.push(response), () => got.push("eb"));
    ws.receive({ id: 1, result: 15, error: null });
    assert.equal(got.length, 1);
    assert.ok(got[0] instanceof JRPC.Response);
    assert.deepEqual(got[0].data(), { id: 1, result: 15, error: null });
  });

  test("eb gets a response whose .error and .result name the failure", async () => {
    const { rpc, ws } = connect();
    const got = [];
    rpc.request("Divide", [1, 0], {}, () => got.push("cb"), (e) => got.push(e.error + ": " + e.result));
    ws.receive({ id: 1, result: "division by zero", error: "ZeroDivisionError" });
    assert.deepEqual(got, ["ZeroDivisionError: division by zero"]);
  });

  test("eb also hears of local failures (timeout, close), named like remote ones", async () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    const { rpc, ws } = connect();
    const got = [];
    rpc.request("Slow", [], {}, null, (e) => got.push([e.id, e.error]), { timeout: 100 });
    rpc.request("Other", [], {}, null, (e) => got.push([e.id, e.error]));
    mock.timers.tick(100);
    ws.serverClose();
    assert.deepEqual(got, [
      [1, "TimeoutError"],
      [2, "ConnectionClosedError"],
    ]);
  });

  test("with callbacks given, a failing call causes no unhandled rejection", async () => {
    // node:test fails a test on an unhandled rejection, so passing is the assertion.
    const { rpc, ws } = connect();
    rpc.request("A", [], {}, () => {}, () => {});
    rpc.request("B", [], {}, () => {}); // cb only: the failure goes nowhere, quietly
    ws.receive({ id: 1, result: "x", error: "Boom" });
    ws.receive({ id: 2, result: "x", error: "Boom" });
    await settle();
  });

  test("the returned promise still rejects for whoever awaits it", async () => {
    const { rpc, ws } = connect();
    const p = rpc.request("A", [], {}, () => {}, () => {});
    ws.receive({ id: 1, result: "x", error: "Boom" });
    await assert.rejects(p, JRPC.RemoteError);
  });

  test("invoke(method, args, kwargs) sends a notification and returns nothing", () => {
    const { rpc, ws } = connect();
    assert.equal(rpc.invoke("Log", ["hi"], { level: 1 }), undefined);
    assert.deepEqual(ws.lastSent(), { method: "Log", args: ["hi"], kwargs: { level: 1 }, id: null });
    assert.equal(rpc.pendingCount, 0);
  });

  test("a callback that throws is reported and breaks nothing", async () => {
    const { rpc, ws, logger } = connect();
    rpc.request("A", [], {}, () => {
      throw new Error("user bug");
    });
    ws.receive({ id: 1, result: 1 });
    assert.ok(logger.entries.some((e) => e.level === "error" && /callback threw/.test(e.text)));
    const b = rpc.request("B");
    ws.receive({ id: 2, result: 2 });
    assert.equal(await b, 2);
  });

  test("Request and Response keep their original shape", () => {
    const request = new JRPC.Request("Add", [1, 2], {}, 3);
    assert.deepEqual(JSON.parse(request.json()), { method: "Add", args: [1, 2], kwargs: {}, id: 3 });
    assert.deepEqual(new JRPC.Request("N").data(), { method: "N", args: [], kwargs: {}, id: null });
    const response = new JRPC.Response(3, undefined);
    assert.equal(response.json(), '{"id":3,"result":null,"error":null}');
  });
});

describe("promise API", () => {
  test("request() returns a promise of the result value", async () => {
    const { rpc, ws } = connect();
    const p = rpc.request("Add", [5, 10]);
    ws.receive({ id: 1, result: 15, error: null });
    assert.equal(await p, 15);
  });

  test("call(method, args, kwargs, options) is the promise-only form", async () => {
    const { rpc, ws } = connect();
    const p = rpc.call("Add", [1, 2], { round: true });
    assert.deepEqual(ws.lastSent(), { method: "Add", args: [1, 2], kwargs: { round: true }, id: 1 });
    ws.receive({ id: 1, result: 3, error: null });
    assert.equal(await p, 3);
  });

  test("remote failures reject with RemoteError: error, result, name, message", async () => {
    const { rpc, ws } = connect();
    const p = rpc.call("Get");
    ws.receive({ id: 1, result: "no user 7", error: "NotFound" });
    await assert.rejects(p, {
      name: "RemoteError",
      error: "NotFound",
      result: "no user 7",
      message: "NotFound: no user 7",
    });
  });

  test("bad arguments reject with a TypeError and send nothing; invoke throws", async () => {
    const { rpc, ws } = connect();
    await assert.rejects(rpc.call(42), TypeError);
    await assert.rejects(rpc.call("M", "not an array"), TypeError);
    await assert.rejects(rpc.call("M", [], [1]), TypeError);
    await assert.rejects(rpc.call("M", [10n]), TypeError);
    assert.throws(() => rpc.invoke("M", {}), TypeError);
    assert.equal(ws.sent.length, 0);
    assert.equal(rpc.pendingCount, 0);
  });
});

describe("queueing before open", () => {
  test("request and invoke made before the socket opens are sent on open, in order", async () => {
    const { rpc, ws } = connect({}, { open: false });
    const p = rpc.request("First");
    rpc.invoke("Second", [2]);
    const q = rpc.call("Third");
    assert.equal(ws.sent.length, 0);
    assert.equal(rpc.readyState, JRPC.WebSocket.CONNECTING);
    ws.open();
    assert.deepEqual(
      ws.sentMessages().map((m) => [m.method, m.id]),
      [
        ["First", 1],
        ["Second", null],
        ["Third", 2],
      ],
    );
    ws.receive({ id: 1, result: "a" });
    ws.receive({ id: 2, result: "c" });
    assert.deepEqual(await Promise.all([p, q]), ["a", "c"]);
  });

  test("queued calls go out before the ones onOpen makes", () => {
    const { rpc, ws } = connect(
      {
        onOpen() {
          this.invoke("FromOnOpen");
        },
      },
      { open: false },
    );
    rpc.invoke("Queued");
    ws.open();
    assert.deepEqual(
      ws.sentMessages().map((m) => m.method),
      ["Queued", "FromOnOpen"],
    );
  });

  test("a queued call that times out is never sent", async () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    const { rpc, ws } = connect({}, { open: false });
    const p = rpc.call("Late", [], {}, { timeout: 50 });
    p.catch(() => {});
    mock.timers.tick(50);
    await assert.rejects(p, JRPC.TimeoutError);
    ws.open();
    assert.equal(ws.sent.length, 0);
  });

  test("if the connection fails before opening (no reconnect), queued calls fail", async () => {
    const { rpc, ws, logger } = connect({}, { open: false });
    const p = rpc.call("Never");
    rpc.invoke("AlsoNever");
    ws.serverClose(1006);
    await assert.rejects(p, JRPC.ConnectionClosedError);
    assert.match(logger.warnings().join("\n"), /1 queued notification\(s\) dropped/);
  });
});

describe("timeouts", () => {
  test("options.timeout is the per-call default; a call's own timeout overrides it", async () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    const { rpc } = connect({ timeout: 1000 });
    const byDefault = rpc.call("A");
    const longer = rpc.call("B", [], {}, { timeout: 5000 });
    const none = rpc.call("C", [], {}, { timeout: 0 });
    const results = [byDefault, longer, none].map((p) => p.then(() => "ok", (e) => e.name));
    mock.timers.tick(1000);
    assert.equal(await results[0], "TimeoutError");
    assert.equal(rpc.pendingCount, 2);
    mock.timers.tick(4000);
    assert.equal(await results[1], "TimeoutError");
    mock.timers.tick(10 ** 9);
    assert.equal(rpc.pendingCount, 1); // timeout 0: waits for ever
  });

  test("a timed-out call's id stays retired: its late answer is ignored, a newer call is not resolved by it", async () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    const { rpc, ws, logger } = connect();
    const old = rpc.call("Old", [], {}, { timeout: 100 });
    old.catch(() => {});
    mock.timers.tick(100);
    await assert.rejects(old, (e) => e instanceof JRPC.TimeoutError && e.id === 1 && e.method === "Old");
    const newer = rpc.call("New");
    assert.equal(ws.lastSent().id, 2);
    ws.receive({ id: 1, result: "late answer to Old" });
    assert.equal(rpc.pendingCount, 1);
    assert.match(logger.warnings().join("\n"), /call 1 ignored/);
    ws.receive({ id: 2, result: "new" });
    assert.equal(await newer, "new");
  });

  test("timeouts past setTimeout's 2^31-1 ms limit are capped, not fired at once", async () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    const { rpc } = connect();
    rpc.call("A", [], {}, { timeout: 3e9 }).catch(() => {});
    mock.timers.tick(1000);
    assert.equal(rpc.pendingCount, 1);
  });

  test("an answer in time clears the timer", async () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    const { rpc, ws } = connect({ timeout: 100 });
    const p = rpc.call("A");
    ws.receive({ id: 1, result: "in time" });
    mock.timers.tick(1000);
    assert.equal(await p, "in time");
  });
});

describe("cancellation", () => {
  test("an AbortSignal cancels a call with CancelledError; its id stays retired", async () => {
    const { rpc, ws, logger } = connect();
    const controller = new AbortController();
    const p = rpc.call("A", [], {}, { signal: controller.signal });
    p.catch(() => {});
    controller.abort();
    await assert.rejects(p, JRPC.CancelledError);
    ws.receive({ id: 1, result: "late" });
    assert.match(logger.warnings().join("\n"), /call 1 ignored/);
  });

  test("an already aborted signal fails at once and sends nothing", async () => {
    const { rpc, ws } = connect();
    await assert.rejects(rpc.call("A", [], {}, { signal: AbortSignal.abort() }), JRPC.CancelledError);
    assert.equal(ws.sent.length, 0);
  });
});

describe("close", () => {
  test("a dropped connection rejects every pending call with ConnectionClosedError at once", async () => {
    const { rpc, ws } = connect();
    const calls = [rpc.call("A"), rpc.call("B")];
    ws.serverClose(1011, "server error");
    assert.equal(rpc.pendingCount, 0);
    const errors = await Promise.all(calls.map((p) => p.catch((e) => e)));
    for (const e of errors) {
      assert.ok(e instanceof JRPC.ConnectionClosedError);
      assert.equal(e.code, 1011);
    }
    assert.equal(rpc.readyState, JRPC.WebSocket.CLOSED);
  });

  test("rpc.close() fails outstanding calls now, closes the socket, later calls fail", async () => {
    const closes = [];
    const { rpc, ws } = connect({ onClose: (event, info) => closes.push([event.code, info.reconnecting]) });
    const p = rpc.call("A");
    rpc.close(4000, "bye");
    assert.equal(rpc.readyState, JRPC.WebSocket.CLOSING);
    await assert.rejects(p, JRPC.ConnectionClosedError);
    assert.deepEqual(ws.closeCalls, [{ code: 4000, reason: "bye" }]);
    await settle();
    assert.equal(rpc.readyState, JRPC.WebSocket.CLOSED);
    assert.deepEqual(closes, [[4000, false]]);
    await assert.rejects(rpc.call("B"), JRPC.ConnectionClosedError);
    rpc.invoke("C"); // dropped, reported
    assert.equal(ws.sent.length, 1);
  });

  test("calls after a drop without reconnect fail at once", async () => {
    const { rpc, ws } = connect();
    ws.serverClose();
    await assert.rejects(rpc.call("A"), JRPC.ConnectionClosedError);
  });

  test("readyState and isOpen follow the connection", () => {
    const { rpc, ws } = connect({}, { open: false });
    assert.equal(rpc.readyState, 0);
    assert.equal(rpc.isOpen, false);
    ws.open();
    assert.equal(rpc.readyState, 1);
    assert.equal(rpc.isOpen, true);
    ws.serverClose();
    assert.equal(rpc.readyState, 3);
    assert.equal(rpc.isOpen, false);
  });
});

describe("dispatch methods", () => {
  test("receive (args, kwargs) like the original, with this = the rpc object, and a context", async () => {
    let seen;
    const { rpc, ws } = connect({
      dispatch: {
        Look(args, kwargs, context) {
          seen = { args, kwargs, self: this, context };
          return "ok";
        },
      },
    });
    ws.receive({ method: "Look", args: [1, 2], kwargs: { k: "v" }, id: 5 });
    await settle();
    assert.deepEqual(seen.args, [1, 2]);
    assert.deepEqual(seen.kwargs, { k: "v" });
    assert.equal(seen.self, rpc);
    assert.equal(seen.context.rpc, rpc);
    assert.equal(seen.context.method, "Look");
    assert.equal(seen.context.id, 5);
  });

  test("async methods may call back the peer before answering", async () => {
    const { ws } = connect({
      dispatch: {
        async Double(args) {
          const base = await this.call("GetBase");
          return base * args[0];
        },
      },
    });
    ws.receive({ method: "Double", args: [21], id: "outer" });
    await settle();
    assert.deepEqual(ws.lastSent(), { method: "GetBase", args: [], kwargs: {}, id: 1 });
    ws.receive({ id: 1, result: 2 });
    await settle();
    assert.deepEqual(ws.lastSent(), { id: "outer", result: 42, error: null });
  });

  test("a rejected promise answers like a throw", async () => {
    const { ws } = connect({ dispatch: { Bad: async () => Promise.reject(new SyntaxError("nope")) } });
    ws.receive({ method: "Bad", id: 1 });
    await settle();
    assert.deepEqual(ws.lastSent(), { id: 1, result: "nope", error: "SyntaxError" });
  });

  test("methods added to rpc.dispatch later are found", async () => {
    const { rpc, ws } = connect();
    rpc.dispatch.Late = () => "here";
    ws.receive({ method: "Late", id: 1 });
    await settle();
    assert.equal(ws.lastSent().result, "here");
  });
});

describe("diagnostics", () => {
  test("the default logger prints problems only (console.warn/error, no info); logger: null silences the library", () => {
    const warn = mock.method(console, "warn", () => {});
    const info = mock.method(console, "info", () => {});
    try {
      const FakeWebSocket = makeFakeWebSocket();
      new JRPC.WebSocket("ws://h/", { WebSocket: FakeWebSocket });
      FakeWebSocket.instances[0].open();
      FakeWebSocket.instances[0].receive("garbage");
      assert.equal(warn.mock.callCount(), 1);
      assert.equal(info.mock.callCount(), 0); // no "connected to ...": only a logger of one's own gets it
      const entries = [];
      new JRPC.WebSocket("ws://h/", { WebSocket: FakeWebSocket, logger: { warn() {}, info: (m) => entries.push(m) } });
      FakeWebSocket.instances[1].open();
      assert.match(entries.join("\n"), /connected to ws:\/\/h\//);
      new JRPC.WebSocket("ws://h/", { WebSocket: FakeWebSocket, logger: null });
      FakeWebSocket.instances[2].open();
      FakeWebSocket.instances[2].receive("garbage");
      assert.equal(warn.mock.callCount(), 1);
    } finally {
      warn.mock.restore();
      info.mock.restore();
    }
  });

  test("a logger with only warn is enough", () => {
    const warnings = [];
    const FakeWebSocket = makeFakeWebSocket();
    const rpc = new JRPC.WebSocket("ws://h/", { WebSocket: FakeWebSocket, logger: { warn: (m) => warnings.push(m) } });
    FakeWebSocket.instances[0].open();
    rpc.request("A", [], {}, () => {
      throw new Error("x");
    });
    FakeWebSocket.instances[0].receive({ id: 1, result: 1 });
    assert.equal(warnings.length, 1); // the error level falls back to warn
  });

  test("a throwing logger breaks nothing", async () => {
    const bad = makeLogger();
    bad.warn = () => {
      throw new Error("logger bug");
    };
    const { rpc, ws } = connect({ logger: bad });
    ws.receive("garbage");
    const p = rpc.call("A");
    ws.receive({ id: 1, result: "fine" });
    assert.equal(await p, "fine");
  });
});
