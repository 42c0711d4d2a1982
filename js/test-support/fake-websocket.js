"use strict";
// A scriptable stand-in for the browser WebSocket, injected through `options.WebSocket`, so the
// protocol logic is tested without a network. Outside test/ so `node --test test/` does not run it.

const JRPC = require("../jrpc.js");

/** Returns a fresh FakeWebSocket class with its own list of created sockets. */
function makeFakeWebSocket() {
  class FakeWebSocket {
    constructor(url, protocols) {
      if (FakeWebSocket.failNext > 0) {
        FakeWebSocket.failNext -= 1;
        throw new Error("fake: constructor failure");
      }
      this.url = url;
      this.protocols = protocols;
      this.readyState = FakeWebSocket.CONNECTING;
      this.binaryType = "blob";
      this.sent = [];
      this.closeCalls = [];
      this.onopen = this.onmessage = this.onerror = this.onclose = null;
      FakeWebSocket.instances.push(this);
    }

    send(data) {
      if (this.readyState !== FakeWebSocket.OPEN) throw new Error("fake: send while not open");
      this.sent.push(data);
    }

    close(code, reason) {
      this.closeCalls.push({ code, reason });
      if (this.readyState >= FakeWebSocket.CLOSING) return;
      this.readyState = FakeWebSocket.CLOSING;
      // Like a browser, the close event comes later.
      queueMicrotask(() => this.serverClose(code === undefined ? 1005 : code, reason || "", true));
    }

    // ----- test controls -----

    /** The server accepted the connection. */
    open() {
      this.readyState = FakeWebSocket.OPEN;
      if (this.onopen) this.onopen({ type: "open", target: this });
    }

    /** A message from the server: an object is JSON-encoded; strings and binary pass as is. */
    receive(data) {
      const payload = typeof data === "string" || isBinary(data) ? data : JSON.stringify(data);
      if (this.onmessage) this.onmessage({ type: "message", data: payload, target: this });
    }

    /** The connection went away (server close, network drop, or a refused connection). */
    serverClose(code = 1006, reason = "", wasClean = false) {
      if (this.readyState === FakeWebSocket.CLOSED) return;
      this.readyState = FakeWebSocket.CLOSED;
      if (this.onerror && !wasClean) this.onerror({ type: "error", target: this });
      if (this.onclose) this.onclose({ type: "close", code, reason, wasClean, target: this });
    }

    /** Everything this socket sent, parsed. Asserts every message was text. */
    sentMessages() {
      return this.sent.map((text) => {
        if (typeof text !== "string") throw new Error("fake: a non-text message was sent");
        return JSON.parse(text);
      });
    }

    lastSent() {
      const all = this.sentMessages();
      return all[all.length - 1];
    }
  }
  FakeWebSocket.CONNECTING = 0;
  FakeWebSocket.OPEN = 1;
  FakeWebSocket.CLOSING = 2;
  FakeWebSocket.CLOSED = 3;
  FakeWebSocket.instances = [];
  FakeWebSocket.failNext = 0;
  return FakeWebSocket;
}

function isBinary(data) {
  return data instanceof ArrayBuffer || ArrayBuffer.isView(data) || (typeof Blob !== "undefined" && data instanceof Blob);
}

/** A logger that records what the library reports. */
function makeLogger() {
  const entries = [];
  const record = (level) => (...args) => entries.push({ level, text: String(args[0]), args });
  return {
    entries,
    warn: record("warn"),
    error: record("error"),
    info: record("info"),
    debug: record("debug"),
    warnings() {
      return entries.filter((e) => e.level === "warn" || e.level === "error").map((e) => e.text);
    },
  };
}

/**
 * Creates an RPC object on a fake socket. Returns {rpc, ws, FakeWebSocket, logger}; the socket
 * is opened unless `open: false`.
 */
function connect(options = {}, { open = true } = {}) {
  const FakeWebSocket = makeFakeWebSocket();
  const logger = makeLogger();
  const rpc = new JRPC.WebSocket("ws://test.invalid/rpc", Object.assign({ WebSocket: FakeWebSocket, logger }, options));
  const ws = FakeWebSocket.instances[0];
  if (open) ws.open();
  return { rpc, ws, FakeWebSocket, logger };
}

/** Lets pending promise callbacks (async dispatch methods, Blob decoding) run. */
function settle() {
  return new Promise((resolve) => setImmediate(resolve));
}

module.exports = { JRPC, makeFakeWebSocket, makeLogger, connect, settle };
