"use strict";
// jrpc.js in Node against a real WebSocket server on 127.0.0.1, over the `ws` package: the Node
// story of README.md ("In Node"), on every Node that package.json's `engines` accepts. Node 20
// and 21 have no global WebSocket, so the `ws` class is passed as `options.WebSocket`; from
// Node 22 the global one works as in a browser.

const { test, describe, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { WebSocket: WsWebSocket, WebSocketServer } = require("ws");
const JRPC = require("../jrpc.js");

/** A JRPC server written by hand on `ws`: answers Add, asks each client for its name. */
function startServer() {
  return new Promise((resolve) => {
    const server = { names: [], notices: [], sockets: new Set() };
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 }, () => {
      server.url = "ws://127.0.0.1:" + wss.address().port + "/";
      resolve(server);
    });
    server.close = () => {
      for (const socket of server.sockets) socket.terminate();
      return new Promise((done) => wss.close(done));
    };
    wss.on("connection", (socket) => {
      server.sockets.add(socket);
      socket.on("close", () => server.sockets.delete(socket));
      // The server calls the client first: a request (id 1) and a notification.
      socket.send(JSON.stringify({ method: "GetName", args: [], kwargs: {}, id: 1 }));
      socket.on("message", (data, isBinary) => {
        assert.equal(isBinary, false, "jrpc.js sends text messages");
        const message = JSON.parse(data.toString("utf8"));
        if (message.method === "Add") {
          const [a, b] = message.args;
          socket.send(JSON.stringify({ id: message.id, result: a + b, error: null }));
        } else if (message.method === "Notice") {
          server.notices.push(message);
        } else if (message.id === 1 && "result" in message) {
          server.names.push(message.result);
          socket.send(JSON.stringify({ method: "Hello", args: [message.result], kwargs: {}, id: null }));
        }
      });
    });
  });
}

function until(predicate) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = () => {
      if (predicate()) return resolve();
      if (Date.now() - started > 5000) return reject(new Error("timed out waiting"));
      setTimeout(poll, 5);
    };
    poll();
  });
}

/** One conversation both ways; returns what the client saw. */
async function converse(server, options) {
  const hellos = [];
  const rpc = new JRPC.WebSocket(server.url, {
    ...options,
    logger: null,
    dispatch: {
      GetName: () => "node",
      Hello: (args) => hellos.push(args[0]),
    },
  });
  try {
    assert.equal(await rpc.call("Add", [5, 10]), 15);
    rpc.invoke("Notice", ["hi"]);
    await until(() => hellos.length === 1 && server.notices.length > 0);
    assert.deepEqual(hellos, ["node"]);
    assert.equal(server.notices.at(-1).id, null);
  } finally {
    rpc.close();
  }
  return rpc;
}

describe("in Node, over a real socket", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  test("with the `ws` package's class as options.WebSocket", async () => {
    const rpc = await converse(server, { WebSocket: WsWebSocket });
    assert.ok(rpc.socket instanceof WsWebSocket);
    assert.ok(server.names.includes("node"));
  });

  test(
    "with Node's global WebSocket (Node 22 and later)",
    { skip: typeof globalThis.WebSocket !== "function" && "Node " + process.version + " has no global WebSocket" },
    async () => {
      await converse(server, {});
    },
  );

  test(
    "without one, the constructor says what to pass (Node 20 and 21)",
    { skip: typeof globalThis.WebSocket === "function" && "Node " + process.version + " has a global WebSocket" },
    () => {
      assert.throws(() => new JRPC.WebSocket(server.url, { logger: null }), {
        name: "TypeError",
        message: /options\.WebSocket.*require\("ws"\)/,
      });
    },
  );

  test("the ES-module entry takes the same option", async () => {
    const mod = await import("../jrpc.mjs");
    const hellos = [];
    const rpc = new mod.WebSocket(server.url, {
      WebSocket: WsWebSocket,
      logger: null,
      dispatch: { GetName: () => "esm", Hello: (args) => hellos.push(args[0]) },
    });
    try {
      assert.equal(await rpc.call("Add", [1, 2]), 3);
      await until(() => hellos.length === 1);
    } finally {
      rpc.close();
    }
  });
});
