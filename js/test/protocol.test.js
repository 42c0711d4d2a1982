"use strict";
// One or more tests per rule of PROTOCOL.md that applies to the browser library.

const { test, describe } = require("node:test");
const assert = require("node:assert/strict");
const { JRPC, connect, settle } = require("../test-support/fake-websocket.js");

const echo = {
  Echo: (args) => args[0],
  Fail: () => {
    throw new TypeError("bad");
  },
};

describe("Transport", () => {
  test("sends one JSON object per message, as text", async () => {
    const { rpc, ws } = connect({ dispatch: echo });
    rpc.invoke("A", [1]);
    rpc.request("B", [2]).catch(() => {});
    ws.receive({ method: "Echo", args: [3], kwargs: {}, id: 7 });
    await settle();
    assert.equal(ws.sent.length, 3);
    for (const message of ws.sent) {
      assert.equal(typeof message, "string");
      const parsed = JSON.parse(message);
      assert.ok(parsed !== null && typeof parsed === "object" && !Array.isArray(parsed));
    }
  });

  test("accepts binary messages (ArrayBuffer, typed array, Blob) decoded as UTF-8", async () => {
    const { ws } = connect({ dispatch: echo });
    const bytes = (obj) => new TextEncoder().encode(JSON.stringify(obj));
    ws.receive(bytes({ method: "Echo", args: ["ünï"], id: 1 }).buffer);
    ws.receive(bytes({ method: "Echo", args: ["typed"], id: 2 }));
    ws.receive(new Blob([bytes({ method: "Echo", args: ["blob"], id: 3 })]));
    ws.receive({ method: "Echo", args: ["text after blob"], id: 4 });
    await settle();
    await settle();
    const answers = ws.sentMessages();
    assert.deepEqual(
      answers.map((m) => [m.id, m.result]),
      [
        [1, "ünï"],
        [2, "typed"],
        [3, "blob"],
        [4, "text after blob"],
      ],
    );
  });

  test("binary message that is not UTF-8 is malformed: ignored, reported", async () => {
    const { ws, logger } = connect({ dispatch: echo });
    ws.receive(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]).buffer);
    await settle();
    assert.equal(ws.sent.length, 0);
    assert.match(logger.warnings().join("\n"), /malformed/);
  });

  test("asks the browser for ArrayBuffer binaries (keeps them synchronous)", () => {
    const { ws } = connect();
    assert.equal(ws.binaryType, "arraybuffer");
  });
});

describe("Request", () => {
  test("a request with an id gets exactly one response with an equal id (any JSON value)", async () => {
    const { ws } = connect({ dispatch: echo });
    const ids = [1, "abc", 1.5, false, { x: [1, null] }, [2], -3];
    for (const id of ids) ws.receive({ method: "Echo", args: [id], kwargs: {}, id });
    await settle();
    const answers = ws.sentMessages();
    assert.equal(answers.length, ids.length);
    assert.deepEqual(
      answers.map((m) => m.id),
      ids,
    );
  });

  test("id 0 is answered (the original jrpc.js did not)", async () => {
    const { ws } = connect({ dispatch: echo });
    ws.receive({ method: "Echo", args: ["zero"], kwargs: {}, id: 0 });
    await settle();
    assert.deepEqual(ws.sentMessages(), [{ id: 0, result: "zero", error: null }]);
  });

  test("notifications (id absent or null) are never answered, whatever happens", async () => {
    const { ws, logger } = connect({ dispatch: echo });
    ws.receive({ method: "Echo", args: [1], kwargs: {} });
    ws.receive({ method: "Echo", args: [1], kwargs: {}, id: null });
    ws.receive({ method: "Fail", id: null });
    ws.receive({ method: "Nope" });
    ws.receive({ method: 42 });
    ws.receive({ method: "Echo", args: "not an array", id: null });
    await settle();
    assert.equal(ws.sent.length, 0);
    // ...but failures are reported locally.
    const warnings = logger.warnings().join("\n");
    assert.match(warnings, /notification Fail failed: TypeError: bad/);
    assert.match(warnings, /unknown method Nope/);
    assert.match(warnings, /invalid notification/);
  });

  test("keys other than the four are ignored", async () => {
    const { ws } = connect({ dispatch: echo });
    ws.receive({ method: "Echo", args: ["x"], kwargs: {}, id: 1, jsonrpc: "2.0", extra: { a: 1 } });
    await settle();
    assert.deepEqual(ws.sentMessages(), [{ id: 1, result: "x", error: null }]);
  });

  test("args/kwargs absent or null mean [] and {}", async () => {
    const seen = [];
    const { ws } = connect({ dispatch: { Look: (args, kwargs) => seen.push([args, kwargs]) } });
    ws.receive({ method: "Look", id: 1 });
    ws.receive({ method: "Look", args: null, kwargs: null, id: 2 });
    await settle();
    assert.deepEqual(seen, [
      [[], {}],
      [[], {}],
    ]);
    assert.equal(ws.sentMessages().length, 2);
  });

  test("the library writes all four keys; id null for a notification; [] and {} when empty", () => {
    const { rpc, ws } = connect();
    rpc.invoke("Ping");
    rpc.request("Add", [5, 10]).catch(() => {});
    rpc.request("Kw", undefined, { a: 1 }).catch(() => {});
    assert.deepEqual(ws.sentMessages(), [
      { method: "Ping", args: [], kwargs: {}, id: null },
      { method: "Add", args: [5, 10], kwargs: {}, id: 1 },
      { method: "Kw", args: [], kwargs: { a: 1 }, id: 2 },
    ]);
    for (const text of ws.sent) assert.deepEqual(Object.keys(JSON.parse(text)).sort(), ["args", "id", "kwargs", "method"]);
  });

  test("ids are positive integers starting at 1, never 0, never reused", async () => {
    const { rpc, ws } = connect();
    const calls = [rpc.request("A"), rpc.request("B", [], {}, { timeout: 5 }), rpc.request("C")];
    calls.forEach((p) => p.catch(() => {}));
    await assert.rejects(calls[1], JRPC.TimeoutError);
    ws.receive({ id: 1, result: null, error: null });
    rpc.request("D").catch(() => {});
    const ids = ws.sentMessages().map((m) => m.id);
    assert.deepEqual(ids, [1, 2, 3, 4]);
  });

  test("ids stay within 2^53 - 1", async () => {
    const { rpc, ws } = connect();
    rpc._nextId = Number.MAX_SAFE_INTEGER; // white-box: skip ahead instead of making 2^53 calls
    const last = rpc.request("Last");
    assert.equal(ws.lastSent().id, Number.MAX_SAFE_INTEGER);
    await assert.rejects(rpc.request("TooMany"), RangeError);
    assert.equal(ws.sent.length, 1);
    ws.receive({ id: Number.MAX_SAFE_INTEGER, result: "ok", error: null });
    assert.equal(await last, "ok");
  });
});

describe("Response", () => {
  test("always writes result (null when the method returns nothing) and error (null on success)", async () => {
    const { ws } = connect({ dispatch: { Nothing: () => {}, Fn: () => () => 1 } });
    ws.receive({ method: "Nothing", id: 1 });
    ws.receive({ method: "Fn", id: 2 });
    await settle();
    assert.deepEqual(ws.sent, ['{"id":1,"result":null,"error":null}', '{"id":2,"result":null,"error":null}']);
  });

  test("on failure result carries the details, error the type", async () => {
    const { ws } = connect({ dispatch: echo });
    ws.receive({ method: "Fail", id: 1 });
    await settle();
    assert.deepEqual(ws.sentMessages(), [{ id: 1, result: "bad", error: "TypeError" }]);
  });

  test("a result that is not JSON answers InternalError, still with result and error", async () => {
    const cyclic = {};
    cyclic.self = cyclic;
    const { ws } = connect({ dispatch: { Cyclic: () => cyclic, Big: () => 10n } });
    ws.receive({ method: "Cyclic", id: 1 });
    ws.receive({ method: "Big", id: 2 });
    await settle();
    const [a, b] = ws.sentMessages();
    assert.equal(a.error, "InternalError");
    assert.equal(typeof a.result, "string");
    assert.equal(b.error, "InternalError");
  });

  test("error null or absent means success", async () => {
    const { rpc, ws } = connect();
    const a = rpc.request("A");
    const b = rpc.request("B");
    ws.receive({ id: 1, result: 15, error: null });
    ws.receive({ id: 2, result: [1, 2] });
    assert.equal(await a, 15);
    assert.deepEqual(await b, [1, 2]);
  });

  test("a string error is a failure; result may be any JSON value", async () => {
    const { rpc, ws } = connect();
    const a = rpc.request("Divide", [1, 0]);
    const b = rpc.request("Find");
    ws.receive({ id: 1, result: "division by zero", error: "ZeroDivisionError" });
    ws.receive({ id: 2, result: { missing: ["x"] }, error: "NotFound" });
    await assert.rejects(a, (err) => {
      assert.ok(err instanceof JRPC.RemoteError);
      assert.equal(err.error, "ZeroDivisionError");
      assert.equal(err.result, "division by zero");
      assert.equal(err.message, "ZeroDivisionError: division by zero");
      return true;
    });
    await assert.rejects(b, (err) => err.error === "NotFound" && err.result.missing[0] === "x");
  });

  test("an error response without result gets result null", async () => {
    const { rpc, ws } = connect();
    const a = rpc.request("A");
    ws.receive({ id: 1, error: "Oops" });
    await assert.rejects(a, (err) => err.error === "Oops" && err.result === null);
  });
});

describe("Telling messages apart", () => {
  test("not JSON, or not a JSON object: malformed, nothing sent, reported, still serving", async () => {
    const { ws, logger } = connect({ dispatch: echo });
    for (const bad of ["not json", "[1,2]", "42", '"str"', "null", "true", "{", ""]) ws.receive(bad);
    await settle();
    assert.equal(ws.sent.length, 0);
    assert.equal(logger.warnings().filter((w) => /malformed/.test(w)).length, 8);
    ws.receive({ method: "Echo", args: ["alive"], id: 1 });
    await settle();
    assert.equal(ws.lastSent().result, "alive");
  });

  test("an object with a method key is a request, even with result/error keys", async () => {
    const { ws } = connect({ dispatch: echo });
    ws.receive({ method: "Echo", args: ["req"], id: 9, result: 1, error: "x" });
    await settle();
    assert.deepEqual(ws.sentMessages(), [{ id: 9, result: "req", error: null }]);
  });

  test("otherwise id plus result or error is a response", async () => {
    const { rpc, ws } = connect();
    const a = rpc.request("A");
    ws.receive({ id: 1, error: null });
    assert.equal(await a, null);
  });

  test("anything else is malformed", async () => {
    const { rpc, ws, logger } = connect();
    const a = rpc.request("A");
    ws.receive({ id: 1 });
    ws.receive({ result: 5 });
    ws.receive({});
    await settle();
    assert.equal(rpc.pendingCount, 1);
    assert.equal(logger.warnings().filter((w) => /malformed/.test(w)).length, 3);
    ws.receive({ id: 1, result: "late but fine" });
    assert.equal(await a, "late but fine");
  });
});

describe("Failure types", () => {
  test("MethodNotFound for an unknown method", async () => {
    const { ws } = connect({ dispatch: echo });
    ws.receive({ method: "Missing", args: [], kwargs: {}, id: 1 });
    await settle();
    const [answer] = ws.sentMessages();
    assert.equal(answer.id, 1);
    assert.equal(answer.error, "MethodNotFound");
    assert.match(answer.result, /Missing/);
  });

  test("MethodNotFound for names inherited from Object.prototype", async () => {
    const { ws } = connect({ dispatch: echo });
    const names = ["toString", "__proto__", "hasOwnProperty", "constructor", "valueOf", "__defineGetter__"];
    names.forEach((method, i) => ws.receive({ method, id: i + 1 }));
    await settle();
    assert.deepEqual(
      ws.sentMessages().map((m) => m.error),
      names.map(() => "MethodNotFound"),
    );
  });

  test("class instances work as dispatch objects (prototype methods)", async () => {
    class Api {
      Hello(args) {
        return "hi " + args[0];
      }
    }
    const { ws } = connect({ dispatch: new Api() });
    ws.receive({ method: "Hello", args: ["bob"], id: 1 });
    ws.receive({ method: "constructor", id: 2 });
    await settle();
    const byId = (id) => ws.sentMessages().find((m) => m.id === id);
    assert.deepEqual([byId(1).result, byId(1).error], ["hi bob", null]);
    assert.equal(byId(2).error, "MethodNotFound");
  });

  test("InvalidRequest for a usable id with wrong field types", async () => {
    const { ws } = connect({ dispatch: echo });
    ws.receive({ method: 5, id: 1 });
    ws.receive({ method: null, id: 2 });
    ws.receive({ method: "Echo", args: { 0: "x" }, id: 3 });
    ws.receive({ method: "Echo", args: "x", id: 4 });
    ws.receive({ method: "Echo", kwargs: [1], id: 5 });
    ws.receive({ method: "Echo", kwargs: "k", id: 6 });
    await settle();
    const answers = ws.sentMessages();
    assert.deepEqual(
      answers.map((m) => [m.id, m.error]),
      [1, 2, 3, 4, 5, 6].map((id) => [id, "InvalidRequest"]),
    );
    for (const answer of answers) assert.equal(typeof answer.result, "string");
  });

  test("InternalError for a thrown non-Error", async () => {
    const { ws } = connect({
      dispatch: {
        Str: () => {
          throw "just a string";
        },
        Obj: () => {
          throw { code: 1 };
        },
        Rej: () => Promise.reject(undefined),
      },
    });
    ws.receive({ method: "Str", id: 1 });
    ws.receive({ method: "Obj", id: 2 });
    ws.receive({ method: "Rej", id: 3 });
    await settle();
    const answers = ws.sentMessages();
    assert.deepEqual(
      answers.map((m) => m.error),
      ["InternalError", "InternalError", "InternalError"],
    );
    assert.equal(answers[0].result, "just a string");
  });

  test("application failure names: an Error's name, a custom class's name, a RemoteError's type", async () => {
    class NotFound extends Error {}
    class PermissionDenied extends Error {
      constructor(message) {
        super(message);
        this.name = "PermissionDenied";
      }
    }
    const { ws } = connect({
      dispatch: {
        Range: () => {
          throw new RangeError("too big");
        },
        Plain: () => {
          throw new Error("plain");
        },
        Custom: () => {
          throw new NotFound("no such user");
        },
        Named: async () => {
          throw new PermissionDenied("nope");
        },
        Chosen: () => {
          throw new JRPC.RemoteError("InvalidParams", { expected: 2 });
        },
      },
    });
    ["Range", "Plain", "Custom", "Named", "Chosen"].forEach((method, i) => ws.receive({ method, id: i + 1 }));
    await settle();
    // Async methods answer later; order the answers by id.
    const answers = ws.sentMessages().sort((a, b) => a.id - b.id);
    assert.deepEqual(
      answers.map((m) => [m.error, m.result]),
      [
        ["RangeError", "too big"],
        ["Error", "plain"],
        ["NotFound", "no such user"],
        ["PermissionDenied", "nope"],
        ["InvalidParams", { expected: 2 }],
      ],
    );
  });

  test("local failures are distinct, matchable errors that never go on the wire", async () => {
    const { rpc, ws } = connect();
    const controller = new AbortController();
    const timedOut = rpc.request("Slow", [], {}, { timeout: 1 });
    const cancelled = rpc.call("Slow", [], {}, { signal: controller.signal });
    const closed = rpc.call("Slow");
    [timedOut, cancelled, closed].forEach((p) => p.catch(() => {}));
    controller.abort();
    await assert.rejects(timedOut, (e) => e instanceof JRPC.TimeoutError && e instanceof JRPC.LocalError && e.name === "TimeoutError");
    await assert.rejects(cancelled, (e) => e instanceof JRPC.CancelledError && e.name === "CancelledError");
    ws.serverClose(1006);
    await assert.rejects(closed, (e) => e instanceof JRPC.ConnectionClosedError && e.name === "ConnectionClosedError" && e.code === 1006);
    assert.equal(ws.sent.length, 3); // only the three requests
  });
});

describe("Malformed and unexpected input", () => {
  test("a response whose id matches nothing outstanding is ignored and reported", async () => {
    const { rpc, ws, logger } = connect();
    const a = rpc.request("A");
    ws.receive({ id: 99, result: "never sent" });
    ws.receive({ id: "1", result: "string id is not 1" });
    ws.receive({ id: null, result: "old server", error: "ParseError" });
    assert.equal(rpc.pendingCount, 1);
    assert.equal(logger.warnings().filter((w) => /ignored/.test(w)).length, 3);
    ws.receive({ id: 1, result: "right one" });
    assert.equal(await a, "right one");
    assert.equal(ws.sent.length, 1); // nothing is ever sent back for a response
  });

  test("a second response to an answered id is ignored and reported", async () => {
    const { rpc, ws, logger } = connect();
    const a = rpc.request("A");
    ws.receive({ id: 1, result: "first" });
    ws.receive({ id: 1, result: "second" });
    ws.receive({ id: 1, result: null, error: "Late" });
    assert.equal(await a, "first");
    assert.equal(logger.warnings().filter((w) => /no longer outstanding/.test(w)).length, 2);
  });

  test("hostile input never breaks the connection", async () => {
    const { ws } = connect({ dispatch: echo });
    const hostile = [
      '{"method":"Echo","args":[1],"kwargs":{"__proto__":{"polluted":true}},"id":1}',
      '{"__proto__":{"method":"Echo"},"id":2}',
      '{"method":"Echo","id":{"__proto__":null}}',
      "\u0000",
      "9".repeat(10000),
      JSON.stringify({ method: "Echo", args: [1], id: 1e308 }),
    ];
    for (const text of hostile) ws.receive(text);
    await settle();
    assert.equal({}.polluted, undefined);
    ws.receive({ method: "Echo", args: ["still here"], id: "last" });
    await settle();
    assert.equal(ws.lastSent().result, "still here");
  });
});

describe("Connections and order", () => {
  test("requests are handled concurrently: a slow method does not delay others", async () => {
    let release;
    const { ws } = connect({
      dispatch: {
        Slow: () => new Promise((resolve) => (release = resolve)),
        Fast: () => "fast",
      },
    });
    ws.receive({ method: "Slow", id: 1 });
    ws.receive({ method: "Fast", id: 2 });
    await settle();
    assert.deepEqual(
      ws.sentMessages().map((m) => m.id),
      [2],
    );
    release("slow");
    await settle();
    assert.deepEqual(
      ws.sentMessages().map((m) => [m.id, m.result]),
      [
        [2, "fast"],
        [1, "slow"],
      ],
    );
  });

  test("requests and notifications start in arrival order", async () => {
    const started = [];
    const { ws } = connect({
      dispatch: {
        Log: async (args) => {
          started.push(args[0]);
          await new Promise((r) => setTimeout(r, 5 - args[0]));
        },
      },
    });
    for (let i = 0; i < 5; i++) ws.receive({ method: "Log", args: [i], id: i % 2 ? i : null });
    assert.deepEqual(started, [0, 1, 2, 3, 4]);
  });

  test("responses may arrive in any order; the id pairs them", async () => {
    const { rpc, ws } = connect();
    const a = rpc.request("A");
    const b = rpc.request("B");
    ws.receive({ id: 2, result: "b" });
    ws.receive({ id: 1, result: "a" });
    assert.deepEqual(await Promise.all([a, b]), ["a", "b"]);
  });

  test("on close every outstanding call fails at once with ConnectionClosedError", async () => {
    const { rpc, ws } = connect();
    const calls = [rpc.request("A"), rpc.call("B"), rpc.request("C", [], {}, { timeout: 60000 })];
    ws.serverClose(1001, "going away");
    assert.equal(rpc.pendingCount, 0);
    for (const call of calls) {
      await assert.rejects(call, (e) => e instanceof JRPC.ConnectionClosedError && e.reason === "going away");
    }
  });

  test("answers produced after the connection closed are dropped", async () => {
    let release;
    const { ws, logger } = connect({ dispatch: { Slow: () => new Promise((r) => (release = r)) } });
    ws.receive({ method: "Slow", id: 1 });
    ws.serverClose();
    release("too late");
    await settle();
    assert.equal(ws.sent.length, 0);
    assert.ok(logger.entries.some((e) => /dropped/.test(e.text)));
  });
});

describe("Compatibility with the original peers", () => {
  test('an "id": null response (old server answering a failed notification) is only reported', async () => {
    const { rpc, ws, logger } = connect();
    const a = rpc.request("A");
    ws.receive({ id: null, result: "unknown method", error: "MethodNotFound" });
    assert.equal(rpc.pendingCount, 1);
    assert.match(logger.warnings().join("\n"), /id null/);
    ws.receive({ id: 1, result: 1, error: null });
    assert.equal(await a, 1);
  });
});
