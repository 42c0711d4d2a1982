// Type declarations for the ES-module entry jrpc.mjs; the API itself is declared in jrpc.d.ts.
import type * as J from "./jrpc.js";

declare const JRPC: typeof J;
export default JRPC;

export declare const version: typeof J.version;
export declare const protocolVersion: typeof J.protocolVersion;

export declare const WebSocket: typeof J.WebSocket;
export type WebSocket = J.WebSocket;
export declare const Request: typeof J.Request;
export type Request = J.Request;
export declare const Response: typeof J.Response;
export type Response = J.Response;
export declare const RemoteError: typeof J.RemoteError;
export type RemoteError = J.RemoteError;
export declare const LocalError: typeof J.LocalError;
export type LocalError = J.LocalError;
export declare const TimeoutError: typeof J.TimeoutError;
export type TimeoutError = J.TimeoutError;
export declare const ConnectionClosedError: typeof J.ConnectionClosedError;
export type ConnectionClosedError = J.ConnectionClosedError;
export declare const CancelledError: typeof J.CancelledError;
export type CancelledError = J.CancelledError;

export type {
  JsonValue,
  CallContext,
  DispatchMethod,
  Dispatch,
  Logger,
  ReconnectOptions,
  CloseEventLike,
  CloseInfo,
  WebSocketLike,
  WebSocketConstructor,
  Options,
  CallOptions,
  Callback,
  Errback,
} from "./jrpc.js";
