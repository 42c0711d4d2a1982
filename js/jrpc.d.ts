// Type declarations for jrpc.js: the global `JRPC` of a classic <script>, and the CommonJS export.
// (jrpc.d.mts declares the ES-module entry jrpc.mjs.)

export = JRPC;
export as namespace JRPC;

declare namespace JRPC {
  /** Any JSON value. */
  type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

  /** What a dispatch method gets as its third argument. */
  interface CallContext {
    /** The connection the request came on (also `this` in a non-arrow function). */
    rpc: WebSocket;
    /** The method name called. */
    method: string;
    /** The request id, or null for a notification (nothing will be sent back). */
    id: JsonValue;
  }

  /**
   * A method the remote peer may call. Its return value (or the value its Promise resolves with)
   * is the result; a thrown Error answers with error = its name (or its class's name) and
   * result = its message; a thrown RemoteError answers with its own error/result; anything else
   * thrown answers InternalError.
   */
  type DispatchMethod = (this: WebSocket, args: any[], kwargs: Record<string, any>, context: CallContext) => unknown;

  /** Method name -> function. Plain objects, null-prototype objects and class instances work. */
  type Dispatch = { [method: string]: DispatchMethod } | object;

  /** Where the library reports what it ignores or drops. Only `warn` is required. */
  interface Logger {
    warn(message: string, ...details: unknown[]): void;
    error?(message: string, ...details: unknown[]): void;
    info?(message: string, ...details: unknown[]): void;
    debug?(message: string, ...details: unknown[]): void;
  }

  /** Backoff: delay n = min(maxDelay, initialDelay * factor^n) * (1 - jitter * random()). */
  interface ReconnectOptions {
    /** ms before the first attempt; default 1000 */
    initialDelay?: number;
    /** ms cap; default 30000 */
    maxDelay?: number;
    /** growth per failed attempt, >= 1; default 2 */
    factor?: number;
    /** 0..1, the largest share of a delay taken off at random; default 0.5 */
    jitter?: number;
  }

  /** The part of a WebSocket event the library reads (a browser CloseEvent fits). */
  interface CloseEventLike {
    code?: number;
    reason?: string;
    wasClean?: boolean;
  }

  interface CloseInfo {
    /** Whether another connection attempt will follow. */
    reconnecting: boolean;
    /** ms until that attempt, or null. */
    delay: number | null;
  }

  /** The part of the WHATWG WebSocket the library uses. */
  interface WebSocketLike {
    binaryType?: string;
    send(data: string): void;
    close(code?: number, reason?: string): void;
    onopen: ((event: any) => void) | null;
    onmessage: ((event: { data: unknown }) => void) | null;
    onerror: ((event: any) => void) | null;
    onclose: ((event: any) => void) | null;
  }

  interface WebSocketConstructor {
    new (url: string, protocols?: string | string[]): WebSocketLike;
  }

  interface Options {
    /** Methods the remote peer may call. */
    dispatch?: Dispatch;
    /** Called (this = rpc) each time a connection opens, after queued calls were sent. */
    onOpen?: (this: WebSocket, event: unknown) => void;
    /** Called (this = rpc) each time a connection closes, after its pending calls failed. */
    onClose?: (this: WebSocket, event: CloseEventLike, info: CloseInfo) => void;
    /** Default timeout of each call in ms; 0 or absent: none. */
    timeout?: number;
    /** Reconnect automatically after a drop: true for the defaults, or the backoff. Default false. */
    reconnect?: boolean | ReconnectOptions;
    /**
     * WebSocket constructor to use instead of globalThis.WebSocket: in Node before 22, which has
     * none, the `ws` package's class (`require("ws")`); also a test double.
     */
    WebSocket?: WebSocketConstructor;
    /** Subprotocols passed to the WebSocket constructor. */
    protocols?: string | string[];
    /**
     * Where diagnostics go. Default: problems only (warn, error) to the console; info (a
     * connection opened or closed) only to a logger given here. null or false: nowhere.
     */
    logger?: Logger | null | false;
  }

  interface CallOptions {
    /** ms; overrides options.timeout; 0: none. */
    timeout?: number;
    /** Aborting it fails the call with CancelledError (its id stays retired). */
    signal?: AbortSignal;
  }

  /** Callback of the original API: `response.result` is the value. */
  type Callback = (response: Response) => void;
  /** Errback of the original API: `response.error` names the failure, `response.result` tells it. */
  type Errback = (response: Response) => void;

  /** A JRPC peer over a WebSocket. */
  class WebSocket {
    static readonly CONNECTING: 0;
    static readonly OPEN: 1;
    static readonly CLOSING: 2;
    static readonly CLOSED: 3;

    /** Original form: connects to ws://host:port/. */
    constructor(host: string, port?: number | string, dispatch?: Dispatch | null, onOpen?: ((this: WebSocket, event: unknown) => void) | null, options?: Options);
    /** URL form: ws://, wss://, http(s):// (mapped to ws(s)) or, in a page, a path like "/rpc". */
    constructor(url: string | URL, options?: Options);

    readonly url: string;
    /** Methods the peer may call; may be changed at any time. */
    dispatch: Dispatch;
    onOpen: ((this: WebSocket, event: unknown) => void) | null;
    onClose: ((this: WebSocket, event: CloseEventLike, info: CloseInfo) => void) | null;
    /** The current (or last) underlying WebSocket. */
    readonly socket: WebSocketLike | null;
    /** 0 connecting (also while waiting to reconnect), 1 open, 2 closing, 3 closed. */
    readonly readyState: 0 | 1 | 2 | 3;
    readonly isOpen: boolean;
    /** Calls waiting for an answer, sent or queued. */
    readonly pendingCount: number;

    /**
     * Calls a remote method. Resolves with the result; rejects with RemoteError, TimeoutError,
     * CancelledError or ConnectionClosedError. With callbacks given, an unhandled rejection is
     * never reported for the returned promise.
     */
    request<T = any>(method: string, args?: unknown[] | null, kwargs?: Record<string, unknown> | null, cb?: Callback | null, eb?: Errback | null, options?: CallOptions): Promise<T>;
    request<T = any>(method: string, args: unknown[] | null | undefined, kwargs: Record<string, unknown> | null | undefined, options: CallOptions): Promise<T>;

    /** Promise-only form of request. */
    call<T = any>(method: string, args?: unknown[] | null, kwargs?: Record<string, unknown> | null, options?: CallOptions): Promise<T>;

    /** Notification: the peer never answers. Throws TypeError on malformed arguments. */
    invoke(method: string, args?: unknown[] | null, kwargs?: Record<string, unknown> | null): void;

    /** Closes for good: no reconnect; every outstanding and queued call fails now. */
    close(code?: number, reason?: string): void;
  }

  /** A request message (original API). */
  class Request {
    constructor(method: string, args?: unknown[] | null, kwargs?: Record<string, unknown> | null, id?: JsonValue);
    method: string;
    args: unknown[];
    kwargs: Record<string, unknown>;
    id: JsonValue;
    data(): { method: string; args: unknown[]; kwargs: Record<string, unknown>; id: JsonValue };
    json(): string;
  }

  /** A response message (original API); what callbacks and errbacks receive. */
  class Response {
    constructor(id: JsonValue, result?: unknown, error?: string | null);
    id: JsonValue;
    result: any;
    /** null on success, else the type of failure. */
    error: string | null;
    data(): { id: JsonValue; result: any; error: string | null };
    json(): string;
  }

  /** The peer answered with a failure; may also be thrown by a dispatch method to choose the answer. */
  class RemoteError extends Error {
    constructor(error: string, result?: unknown, response?: Response);
    readonly name: "RemoteError";
    /** The type of failure, e.g. "MethodNotFound", "ZeroDivisionError". */
    error: string;
    /** The details (any JSON value; by convention a string). */
    result: any;
    /** The response it came in, if any. */
    response: Response | null;
  }

  /** A failure on this side that never travels on the wire. `.error` is its name, `.result` its message. */
  class LocalError extends Error {
    constructor(message: string);
    readonly error: string;
    readonly result: string;
    /** The call's method, when it is about a call. */
    method: string | undefined;
    /** The call's id, when it had one. */
    id: number | null | undefined;
  }

  class TimeoutError extends LocalError {
    readonly name: "TimeoutError";
  }

  class ConnectionClosedError extends LocalError {
    readonly name: "ConnectionClosedError";
    /** Close code of the WebSocket, when a close event caused it. */
    code: number | undefined;
    reason: string | undefined;
  }

  class CancelledError extends LocalError {
    readonly name: "CancelledError";
  }

  /** The library's version. */
  const version: string;
  /** The wire protocol version spoken. */
  const protocolVersion: 1;
}
