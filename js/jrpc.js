/*!
 * jrpc.js: two-way JSON RPC over WebSockets, the browser library of jrpc.
 * Speaks the JRPC wire protocol, version 1: PROTOCOL.md at the root of the jrpc repository,
 * https://github.com/jrpc-rs/jrpc/blob/main/PROTOCOL.md. No dependencies, no build step.
 * MIT licensed (LICENSE).
 *
 * Loading:
 *   - classic <script src="jrpc.js">  -> defines the global `JRPC` for the page, and nothing else
 *   - CommonJS require("./jrpc.js")   -> module.exports; no global
 *   - ES modules: import from "./jrpc.mjs", which evaluates this file and re-exports the API;
 *     no global
 * Node before 22 has no global WebSocket: pass one, `{WebSocket: require("ws")}` (README.md).
 */
(function (self, factory) {
  "use strict";
  const JRPC = factory();
  if (typeof module === "object" && module !== null && typeof module.exports === "object") {
    // CommonJS (Node, bundlers).
    module.exports = JRPC;
  } else if (self !== undefined && self !== null) {
    // A classic script: top-level `this` is the page's (or worker's) global object, and `JRPC`
    // is the name pages of the original jrpc.js use.
    self.JRPC = JRPC;
  } else {
    // Evaluated as an ES module (top-level `this` is undefined), as jrpc.mjs has a browser do:
    // a module exports nothing by a script's syntax, so the API is handed to jrpc.mjs under a
    // registry symbol, as a non-enumerable property that no name of a page can clash with.
    Object.defineProperty(globalThis, Symbol.for("jrpc.js"), { value: JRPC, configurable: true });
  }
})(this, function () {
  "use strict";

  const VERSION = "0.1.0"; // in step with package.json and the Rust crates
  const PROTOCOL_VERSION = 1;

  // WebSocket readyState values; the RPC object reports the same numbers.
  const CONNECTING = 0;
  const OPEN = 1;
  const CLOSING = 2;
  const CLOSED = 3;

  // Ids are positive integers, never 0 (the original jrpc.js tests `if (request.id)` and so
  // never answers id 0), and must stay exactly representable as a JavaScript number.
  const FIRST_ID = 1;
  const MAX_ID = Number.MAX_SAFE_INTEGER; // 2^53 - 1

  // setTimeout fires at once for delays past 2^31 - 1 ms, so longer ones are capped (~24.8 days).
  const MAX_TIMER = 2147483647;

  const DEFAULT_RECONNECT = Object.freeze({ initialDelay: 1000, maxDelay: 30000, factor: 2, jitter: 0.5 });

  const hasOwn = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);
  const noop = () => {};
  const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
  const isFunction = (value) => typeof value === "function";
  const preview = (text) => (text.length > 200 ? text.slice(0, 200) + "…" : text);

  // ---------------------------------------------------------------------------------------------
  // Errors
  // ---------------------------------------------------------------------------------------------

  /** Human-readable text for a failure's details (any JSON value). */
  function describe(value) {
    if (typeof value === "string") return value;
    try {
      const text = JSON.stringify(value);
      if (text !== undefined) return text;
    } catch (_) {
      /* fall through */
    }
    try {
      return String(value);
    } catch (_) {
      return "(unprintable value)";
    }
  }

  /**
   * The remote peer answered with a failure. `error` is the failure's type (e.g. "MethodNotFound",
   * "ZeroDivisionError"), `result` its details. A dispatch method may also throw one to choose
   * the type and details it answers with.
   */
  class RemoteError extends Error {
    constructor(error, result, response) {
      const kind = typeof error === "string" ? error : describe(error);
      const details = result === undefined ? null : result;
      super(kind + ": " + describe(details));
      this.name = "RemoteError";
      this.error = kind;
      this.result = details;
      this.response = response || null;
    }
  }

  /**
   * Base class of failures that happen on this side and never travel on the wire. Like a remote
   * failure it carries `.error` (its name) and `.result` (its message).
   */
  class LocalError extends Error {
    constructor(message, call) {
      super(message);
      this.name = "LocalError";
      this.method = call ? call.method : undefined;
      this.id = call ? call.id : undefined;
    }
    get error() {
      return this.name;
    }
    get result() {
      return this.message;
    }
  }

  /** The call got no answer within its timeout. Its id stays retired. */
  class TimeoutError extends LocalError {
    constructor(message, call) {
      super(message, call);
      this.name = "TimeoutError";
    }
  }

  /** The connection closed (or rpc.close() was called) before the answer came. */
  class ConnectionClosedError extends LocalError {
    constructor(message, call, event) {
      super(message, call);
      this.name = "ConnectionClosedError";
      this.code = event && typeof event.code === "number" ? event.code : undefined;
      this.reason = event && typeof event.reason === "string" ? event.reason : undefined;
    }
  }

  /** The call's AbortSignal fired before the answer came. Its id stays retired. */
  class CancelledError extends LocalError {
    constructor(message, call) {
      super(message, call);
      this.name = "CancelledError";
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Messages (Request and Response are kept from the original jrpc.js API)
  // ---------------------------------------------------------------------------------------------

  class Request {
    constructor(method, args, kwargs, id) {
      this.method = method;
      this.args = args == null ? [] : args;
      this.kwargs = kwargs == null ? {} : kwargs;
      this.id = id == null ? null : id;
    }
    data() {
      // All four keys, always; `id: null` marks a notification.
      return { method: this.method, args: this.args, kwargs: this.kwargs, id: this.id };
    }
    json() {
      return JSON.stringify(this.data());
    }
  }

  class Response {
    constructor(id, result, error) {
      this.id = id;
      this.result = result === undefined ? null : result;
      this.error = error == null ? null : error;
    }
    data() {
      return { id: this.id, result: this.result, error: this.error };
    }
    json() {
      return encodeResponse(this.id, this.result, this.error).text;
    }
  }

  /** What the original API's errback gets for a failure that came with no response (a local one). */
  function failureResponse(call, err) {
    if (err instanceof LocalError) return new Response(call.id, err.result, err.error);
    return new Response(call.id, describe(err && err.message), errorTypeName(err));
  }

  /** Checks a call's arguments and returns the request text; throws TypeError on misuse. */
  function encodeRequest(method, args, kwargs, id) {
    if (typeof method !== "string") throw new TypeError("jrpc: method name must be a string");
    if (args != null && !Array.isArray(args)) throw new TypeError("jrpc: args must be an array");
    if (kwargs != null && !isObject(kwargs)) throw new TypeError("jrpc: kwargs must be a plain object");
    const text = new Request(method, args, kwargs, id).json();
    return text;
  }

  /**
   * Builds a response text. `result` is always written (null when undefined), `error` too (null
   * on success). A result that cannot be encoded as JSON turns the answer into an InternalError.
   */
  function encodeResponse(id, result, error) {
    let body;
    try {
      body = JSON.stringify(result === undefined ? null : result);
      // Functions and symbols stringify to undefined; the key must still be written.
      if (body === undefined) body = "null";
    } catch (err) {
      error = "InternalError";
      body = JSON.stringify("result could not be encoded as JSON: " + describe(err && err.message));
    }
    const errorText = error == null ? "null" : JSON.stringify(String(error));
    return { text: '{"id":' + JSON.stringify(id) + ',"result":' + body + ',"error":' + errorText + "}", error };
  }

  /**
   * PROTOCOL.md "Telling messages apart": an object with `method` is a request; otherwise one with
   * `id` and `result` or `error` is a response; anything else is malformed.
   */
  function classify(message) {
    if (!isObject(message)) return "malformed";
    if (hasOwn(message, "method")) return "request";
    if (hasOwn(message, "id") && (hasOwn(message, "result") || hasOwn(message, "error"))) return "response";
    return "malformed";
  }

  /** Returns why a request object is invalid (wrong field types), or null if it is usable. */
  function requestProblem(message) {
    if (typeof message.method !== "string") return "method must be a string";
    // Absent or null args/kwargs mean [] / {}.
    if (message.args != null && !Array.isArray(message.args)) return "args must be an array";
    if (message.kwargs != null && !isObject(message.kwargs)) return "kwargs must be an object";
    return null;
  }

  /** What a thrown value answers with: {error: type name, result: details}. */
  function describeThrown(thrown) {
    if (thrown instanceof RemoteError) return { error: thrown.error, result: thrown.result };
    if (isError(thrown)) return { error: errorTypeName(thrown), result: describe(thrown.message) };
    return { error: "InternalError", result: describe(thrown) };
  }

  function isError(value) {
    return value instanceof Error || Object.prototype.toString.call(value) === "[object Error]";
  }

  /**
   * An error's type name: its `name`, or for `class NotFound extends Error {}` (whose `name` is
   * the inherited "Error") its constructor's name.
   */
  function errorTypeName(err) {
    try {
      if (typeof err.name === "string" && err.name !== "" && err.name !== "Error") return err.name;
      const ctorName = err.constructor && err.constructor.name;
      if (typeof ctorName === "string" && ctorName !== "") return ctorName;
    } catch (_) {
      /* hostile getters */
    }
    return "Error";
  }

  /**
   * The dispatch function for `name`, or null. Looks through the dispatch object and its
   * prototypes (so class instances work) but never into Object.prototype, so "toString",
   * "__proto__", "hasOwnProperty" etc. are not callable from the wire.
   */
  function findMethod(dispatch, name) {
    if (dispatch == null || name === "constructor") return null;
    for (let obj = dispatch; obj != null; obj = Object.getPrototypeOf(obj)) {
      if (obj === Object.prototype || obj === Function.prototype) return null;
      if (hasOwn(obj, name)) {
        const method = dispatch[name];
        return isFunction(method) ? method : null;
      }
    }
    return null;
  }

  // ---------------------------------------------------------------------------------------------
  // Incoming data: text, ArrayBuffer, typed arrays and Blobs (binary is decoded as UTF-8)
  // ---------------------------------------------------------------------------------------------

  const isBlob = (data) => typeof Blob !== "undefined" && data instanceof Blob;

  /** Decodes text/binary message data synchronously; throws on invalid UTF-8. */
  function decodeSync(data) {
    if (typeof data === "string") return data;
    if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
      return new TextDecoder("utf-8", { fatal: true }).decode(data);
    }
    throw new TypeError("unsupported message data type: " + Object.prototype.toString.call(data));
  }

  async function decodeAsync(data) {
    return decodeSync(isBlob(data) ? await data.arrayBuffer() : data);
  }

  // ---------------------------------------------------------------------------------------------
  // Construction helpers
  // ---------------------------------------------------------------------------------------------

  function isUrlForm(target) {
    if (typeof URL !== "undefined" && target instanceof URL) return true;
    return typeof target === "string" && (/^[a-z][a-z0-9+.-]*:\/\//i.test(target) || target.startsWith("/"));
  }

  /** The original endpoint: ws://host:port/ (IPv6 literals get their brackets). */
  function endpointFor(host, port) {
    let name = String(host);
    if (name.includes(":") && !name.startsWith("[")) name = "[" + name + "]";
    const portPart = port == null || port === "" ? "" : ":" + port;
    return "ws://" + name + portPart + "/";
  }

  /** Accepts ws(s)://, http(s):// (mapped to ws(s)) and, in a page, a path like "/rpc". */
  function resolveUrl(target) {
    let url = String(target);
    if (url.startsWith("/")) {
      const loc = globalThis.location;
      if (!loc || !loc.host) throw new TypeError("jrpc: a relative URL needs a page location: " + url);
      const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
      url = url.startsWith("//") ? scheme + url : scheme + "//" + loc.host + url;
    }
    return url.replace(/^http(s?):/i, "ws$1:");
  }

  function parseConstructorArgs(target, portOrOptions, dispatch, onOpen, extra) {
    if (isUrlForm(target)) {
      return { url: resolveUrl(target), options: Object.assign({}, portOrOptions || {}) };
    }
    // Original form: (host, port, dispatch, onOpen), plus an optional options object.
    const options = Object.assign({}, extra || {});
    if (dispatch != null) options.dispatch = dispatch;
    if (onOpen != null) options.onOpen = onOpen;
    return { url: endpointFor(target, portOrOptions), options };
  }

  function reconnectConfig(option) {
    if (!option) return null;
    const config = Object.assign({}, DEFAULT_RECONNECT);
    if (option !== true) {
      for (const key of Object.keys(DEFAULT_RECONNECT)) if (option[key] !== undefined) config[key] = option[key];
    }
    const ok = config.initialDelay >= 0 && config.maxDelay >= 0 && config.factor >= 1 && config.jitter >= 0 && config.jitter <= 1;
    if (!ok) throw new RangeError("jrpc: invalid reconnect options " + describe(option));
    return config;
  }

  /** Milliseconds as a usable timeout, or 0 for "none" (0, negative, NaN, Infinity, absent). */
  function timeoutMs(value) {
    return typeof value === "number" && value > 0 && Number.isFinite(value) ? Math.min(value, MAX_TIMER) : 0;
  }

  /**
   * The default logger: problems (warn, error) go to the console; the comings and goings of
   * connections (info) only to a logger given as an option, so that a program prints nothing
   * of the library's unless something went wrong or it asked.
   */
  const CONSOLE_PROBLEMS = Object.freeze({
    warn: (...args) => console.warn(...args),
    error: (...args) => console.error(...args),
  });

  function resolveLogger(option) {
    if (option === undefined) return typeof console !== "undefined" ? CONSOLE_PROBLEMS : null;
    return option || null; // null/false silence the library
  }

  // ---------------------------------------------------------------------------------------------
  // The connection
  // ---------------------------------------------------------------------------------------------

  /**
   * A JRPC peer over one WebSocket (re-opened on drops when `reconnect` is set).
   *
   *   new JRPC.WebSocket(host, port, dispatch, onOpen)   // original form: ws://host:port/
   *   new JRPC.WebSocket(url, options)                   // options: see README.md
   */
  class RpcSocket {
    constructor(target, portOrOptions, dispatch, onOpen, extra) {
      const { url, options } = parseConstructorArgs(target, portOrOptions, dispatch, onOpen, extra);
      const WebSocketImpl = options.WebSocket || globalThis.WebSocket;
      if (!isFunction(WebSocketImpl)) {
        throw new TypeError(
          "jrpc: no WebSocket implementation; pass one as options.WebSocket (in Node before 22: require(\"ws\"))",
        );
      }
      this.url = url;
      /** Methods the remote peer may call: name -> function(args, kwargs, context). */
      this.dispatch = options.dispatch || {};
      /** Called as onOpen.call(rpc, event) each time a connection opens. */
      this.onOpen = options.onOpen || null;
      /** Called as onClose.call(rpc, event, {reconnecting, delay}) each time a connection closes. */
      this.onClose = options.onClose || null;

      this._WebSocket = WebSocketImpl;
      this._protocols = options.protocols;
      this._timeout = timeoutMs(options.timeout);
      this._reconnect = reconnectConfig(options.reconnect);
      this._logger = resolveLogger(options.logger);

      this._nextId = FIRST_ID;
      this._pending = new Map(); // id -> call, sent or still queued
      this._outbox = []; // {text, call|null}, written when a connection opens
      this._conn = null; // {socket, open}; events of any other socket are stale
      this._lastSocket = null;
      this._inbox = null; // promise tail while a Blob is being decoded (keeps arrival order)
      this._closedForGood = false;
      this._attempt = 0;
      this._retryTimer = null;

      this._connect(true);
    }

    // ----- public state -----

    /** The current (or last) underlying WebSocket. */
    get socket() {
      return this._lastSocket;
    }

    /** 0 connecting (also while waiting to reconnect), 1 open, 2 closing, 3 closed. */
    get readyState() {
      if (this._conn) return this._closedForGood ? CLOSING : this._conn.open ? OPEN : CONNECTING;
      return this._retryTimer !== null ? CONNECTING : CLOSED;
    }

    get isOpen() {
      return this.readyState === OPEN;
    }

    /** Number of calls waiting for an answer (sent or queued). */
    get pendingCount() {
      return this._pending.size;
    }

    // ----- calling the peer -----

    /**
     * Calls a remote method and wants its answer.
     *   request(method, args?, kwargs?, cb?, eb?, options?) or request(method, args?, kwargs?, options)
     * cb(response) / eb(response) as in the original library; also returns a Promise of the result.
     * When a callback is given the promise's rejection is marked handled (no unhandled-rejection
     * noise), though awaiting it still throws.
     */
    request(method, args, kwargs, cb, eb, options) {
      if (isObject(cb)) {
        options = cb;
        cb = eb = undefined;
      }
      const promise = this._call(method, args, kwargs, options || {}, cb, eb);
      if (isFunction(cb) || isFunction(eb)) promise.catch(noop);
      return promise;
    }

    /** Promise-only form: call(method, args?, kwargs?, {timeout?, signal?}) -> Promise<result>. */
    call(method, args, kwargs, options) {
      return this._call(method, args, kwargs, options || {}, undefined, undefined);
    }

    /** Notification: the peer never answers. Throws TypeError on malformed arguments. */
    invoke(method, args, kwargs) {
      const text = encodeRequest(method, args, kwargs, null);
      if (this._isDead()) {
        this._log("warn", "invoke(" + method + ") on a closed connection: dropped");
        return;
      }
      this._transmit(text, null);
    }

    /** Closes the connection for good: no reconnect; every outstanding call fails now. */
    close(code, reason) {
      if (this._closedForGood) return;
      this._closedForGood = true;
      this._cancelRetry();
      this._failCalls(() => true, (call) => new ConnectionClosedError("connection closed by close()", call));
      this._dropOutbox("close() was called");
      const conn = this._conn;
      if (!conn) return;
      try {
        conn.socket.close(code === undefined ? 1000 : code, reason);
      } catch (err) {
        this._log("warn", "closing the socket failed", err);
        this._conn = null;
      }
    }

    // ----- outgoing calls -----

    /** Closed with no reconnect to come: calls can only fail. */
    _isDead() {
      return this._closedForGood || (this._conn === null && this._retryTimer === null);
    }

    _call(method, args, kwargs, options, cb, eb) {
      return new Promise((resolve, reject) => {
        const call = { id: null, method, resolve, reject, cb, eb, sent: false, timer: null, unlisten: null };
        let text;
        try {
          if (this._isDead()) throw new ConnectionClosedError("connection is closed", call);
          if (options.signal && options.signal.aborted) throw new CancelledError("call cancelled", call);
          if (this._nextId > MAX_ID) throw new RangeError("jrpc: request ids exhausted on this connection");
          text = encodeRequest(method, args, kwargs, this._nextId);
        } catch (err) {
          // Fail after request() returns, as every other outcome does.
          queueMicrotask(() => this._fail(call, err));
          return;
        }
        // Ids are never reused: the counter only grows, across timeouts and reconnects.
        call.id = this._nextId++;
        this._pending.set(call.id, call);
        this._armTimeout(call, options.timeout !== undefined ? timeoutMs(options.timeout) : this._timeout);
        this._armSignal(call, options.signal);
        this._transmit(text, call);
      });
    }

    _armTimeout(call, ms) {
      if (!ms) return;
      call.timer = setTimeout(() => {
        call.timer = null;
        this._fail(call, new TimeoutError("no answer to " + call.method + " (id " + call.id + ") within " + ms + " ms", call));
      }, ms);
    }

    _armSignal(call, signal) {
      if (!signal) return;
      const onAbort = () => this._fail(call, new CancelledError("call cancelled", call));
      signal.addEventListener("abort", onAbort, { once: true });
      call.unlisten = () => signal.removeEventListener("abort", onAbort);
    }

    /** Sends now if open; otherwise queues until a connection opens. */
    _transmit(text, call) {
      if (this._conn && this._conn.open) this._send(text, call);
      else this._outbox.push({ text, call });
    }

    _send(text, call) {
      try {
        this._conn.socket.send(text);
        if (call) call.sent = true;
      } catch (err) {
        this._log("warn", "send failed", err);
        if (call) this._fail(call, new ConnectionClosedError("send failed: " + describe(err && err.message), call));
      }
    }

    /** Writes everything queued while there was no open connection, in call order. */
    _flushOutbox() {
      const queued = this._outbox;
      this._outbox = [];
      for (const entry of queued) {
        if (!this._conn || !this._conn.open) {
          this._outbox.push(entry); // closed during the flush: keep the rest for later
          continue;
        }
        this._send(entry.text, entry.call);
      }
    }

    _dropOutbox(why) {
      // Only notifications are left here: queued calls were failed, and so removed, before.
      const notifications = this._outbox.length;
      this._outbox = [];
      if (notifications) this._log("warn", notifications + " queued notification(s) dropped: " + why);
    }

    // ----- settling calls -----

    /** Retires a call: its id is never answered to anyone again. */
    _retire(call) {
      this._pending.delete(call.id);
      if (call.timer !== null) clearTimeout(call.timer);
      call.timer = null;
      if (call.unlisten) call.unlisten();
      if (!call.sent) this._outbox = this._outbox.filter((entry) => entry.call !== call);
    }

    _succeed(call, response) {
      this._retire(call);
      call.resolve(response.result);
      if (isFunction(call.cb)) this._callUser("request callback", call.cb, response);
    }

    _fail(call, err, response) {
      if (call.id !== null && this._pending.get(call.id) !== call) return; // already settled
      if (call.id !== null) this._retire(call);
      call.reject(err);
      if (isFunction(call.eb)) this._callUser("request errback", call.eb, response || failureResponse(call, err));
    }

    _failCalls(predicate, makeError) {
      for (const call of Array.from(this._pending.values())) {
        if (predicate(call)) this._fail(call, makeError(call));
      }
    }

    // ----- connection lifecycle -----

    _connect(first) {
      this._retryTimer = null;
      let socket;
      try {
        socket = this._protocols === undefined ? new this._WebSocket(this.url) : new this._WebSocket(this.url, this._protocols);
      } catch (err) {
        if (first) throw err; // a bad URL is the caller's mistake
        this._log("warn", "reconnect to " + this.url + " failed", err);
        this._scheduleReconnect();
        return;
      }
      try {
        socket.binaryType = "arraybuffer"; // keeps binary messages synchronous and in order
      } catch (_) {
        /* not every implementation has it */
      }
      const conn = { socket, open: false };
      this._conn = conn;
      this._lastSocket = socket;
      const current = () => this._conn === conn;
      socket.onopen = (event) => current() && this._handleOpen(conn, event);
      socket.onmessage = (event) => current() && this._receive(event.data, conn);
      socket.onerror = (event) => current() && this._log("warn", "socket error on " + this.url, event);
      socket.onclose = (event) => current() && this._handleClose(event);
    }

    _handleOpen(conn, event) {
      if (this._closedForGood) return;
      conn.open = true;
      this._attempt = 0;
      this._log("info", "connected to " + this.url);
      this._flushOutbox(); // calls made before open go first, before onOpen makes new ones
      if (isFunction(this.onOpen)) this._callUser("onOpen", this.onOpen, event);
    }

    _handleClose(event) {
      this._conn = null;
      this._inbox = null;
      const reconnecting = !this._closedForGood && this._reconnect !== null;
      // Every call sent on this connection fails at once; its answer can never come. Calls still
      // queued survive when a reconnect will send them.
      this._failCalls(
        (call) => call.sent || !reconnecting,
        (call) => new ConnectionClosedError("connection closed before the answer came", call, event),
      );
      if (!reconnecting) this._dropOutbox("connection closed");
      // The retry is armed before onClose runs, so calls made from onClose are queued for it
      // (and rpc.close() from onClose cancels it).
      const delay = reconnecting ? this._scheduleReconnect() : null;
      this._log("info", "connection to " + this.url + " closed" + (reconnecting ? "; reconnecting in " + Math.round(delay) + " ms" : ""));
      if (isFunction(this.onClose)) this._callUser("onClose", this.onClose, event, { reconnecting, delay });
    }

    /** Exponential backoff: initialDelay * factor^attempt, capped, minus up to `jitter` of it. */
    _nextDelay() {
      const { initialDelay, maxDelay, factor, jitter } = this._reconnect;
      const base = Math.min(maxDelay, initialDelay * Math.pow(factor, this._attempt));
      this._attempt += 1;
      return Math.min(MAX_TIMER, base * (1 - jitter * Math.random()));
    }

    /** Arms the next connection attempt; returns its delay in ms. */
    _scheduleReconnect() {
      const delay = this._nextDelay();
      this._retryTimer = setTimeout(() => this._connect(false), delay);
      return delay;
    }

    _cancelRetry() {
      if (this._retryTimer !== null) clearTimeout(this._retryTimer);
      this._retryTimer = null;
    }

    // ----- incoming messages -----

    _receive(data, conn) {
      // A Blob decodes asynchronously; later messages wait behind it so arrival order holds.
      if (this._inbox || isBlob(data)) {
        const tail = (this._inbox || Promise.resolve())
          .then(() => decodeAsync(data))
          .then((text) => this._conn === conn && this._handleText(text, conn))
          .catch((err) => this._log("warn", "malformed message ignored: " + describe(err && err.message)));
        this._inbox = tail;
        tail.then(() => {
          if (this._inbox === tail) this._inbox = null;
        });
        return;
      }
      let text;
      try {
        text = decodeSync(data);
      } catch (err) {
        this._log("warn", "malformed message ignored: " + describe(err && err.message));
        return;
      }
      this._handleText(text, conn);
    }

    _handleText(text, conn) {
      let message;
      try {
        message = JSON.parse(text);
      } catch (_) {
        this._log("warn", "malformed message ignored (not JSON)", preview(text));
        return;
      }
      const kind = classify(message);
      if (kind === "request") this._handleRequest(message, conn);
      else if (kind === "response") this._handleResponse(message);
      else this._log("warn", "malformed message ignored (neither request nor response)", preview(text));
    }

    _handleResponse(message) {
      const id = message.id;
      const call = typeof id === "number" ? this._pending.get(id) : undefined;
      if (!call || !call.sent) {
        // Never sent, already answered, timed out, cancelled, or null (an old peer answering
        // something it could not parse): ignored, and never taken for another call's answer.
        this._log("warn", this._unknownResponseText(id), message);
        return;
      }
      const response = new Response(id, message.result, message.error);
      if (response.error === null) this._succeed(call, response);
      else this._fail(call, new RemoteError(response.error, response.result, response), response);
    }

    _unknownResponseText(id) {
      if (id === null) return "response with id null ignored";
      if (Number.isInteger(id) && id >= FIRST_ID && id < this._nextId) {
        return "response to call " + id + " ignored: it is no longer outstanding (answered, timed out, cancelled or closed)";
      }
      return "response to unknown id " + describe(id) + " ignored";
    }

    _handleRequest(message, conn) {
      const id = message.id;
      // An id that is absent or null makes a notification: never answered, whatever happens.
      const wantsAnswer = id !== undefined && id !== null;
      const problem = requestProblem(message);
      if (problem) {
        if (wantsAnswer) this._reply(conn, id, "invalid request: " + problem, "InvalidRequest");
        else this._log("warn", "invalid notification ignored: " + problem, message);
        return;
      }
      const method = message.method;
      const handler = findMethod(this.dispatch, method);
      if (!handler) {
        if (wantsAnswer) this._reply(conn, id, "method not found: " + method, "MethodNotFound");
        else this._log("warn", "notification for unknown method " + method + " ignored");
        return;
      }
      const args = message.args == null ? [] : message.args;
      const kwargs = message.kwargs == null ? {} : message.kwargs;
      this._run(handler, method, args, kwargs, wantsAnswer ? id : null, conn);
    }

    /**
     * Runs a dispatch method. It starts synchronously (requests start in arrival order) and may
     * return a Promise; slow ones don't hold up others, answers go out whenever they are ready.
     */
    async _run(handler, method, args, kwargs, id, conn) {
      let result;
      let error = null;
      try {
        result = await handler.call(this, args, kwargs, { rpc: this, method, id });
      } catch (thrown) {
        ({ error, result } = describeThrown(thrown));
      }
      if (id === null) {
        if (error !== null) this._log("warn", "notification " + method + " failed: " + error + ": " + describe(result));
        return;
      }
      this._reply(conn, id, result, error);
    }

    _reply(conn, id, result, error) {
      // Answers for a connection that has closed are dropped (never sent on a newer one).
      if (this._conn !== conn || !conn.open) {
        this._log("info", "answer to request " + describe(id) + " dropped: its connection closed");
        return;
      }
      const encoded = encodeResponse(id, result, error);
      if (encoded.error !== error) this._log("warn", "result of request " + describe(id) + " is not JSON; answered InternalError");
      this._send(encoded.text, null);
    }

    // ----- helpers -----

    _callUser(what, fn, ...args) {
      try {
        fn.apply(this, args);
      } catch (err) {
        this._log("error", what + " threw", err);
      }
    }

    _log(level, message, ...details) {
      const logger = this._logger;
      if (!logger) return;
      let fn = logger[level];
      if (!isFunction(fn) && level === "error") fn = logger.warn;
      if (!isFunction(fn)) return;
      try {
        fn.call(logger, "jrpc: " + message, ...details);
      } catch (_) {
        /* a broken logger must not break the connection */
      }
    }
  }

  RpcSocket.CONNECTING = CONNECTING;
  RpcSocket.OPEN = OPEN;
  RpcSocket.CLOSING = CLOSING;
  RpcSocket.CLOSED = CLOSED;

  return {
    version: VERSION,
    protocolVersion: PROTOCOL_VERSION,
    WebSocket: RpcSocket,
    Request,
    Response,
    RemoteError,
    LocalError,
    TimeoutError,
    ConnectionClosedError,
    CancelledError,
  };
});
