// ES-module entry for jrpc.js. jrpc.js stays the single source of truth: importing it for its
// side effect defines globalThis.JRPC (browsers evaluate it as a module, Node as CommonJS because
// package.json says "type": "commonjs"), and this file re-exports that object's members.
import "./jrpc.js";

const JRPC = globalThis.JRPC;

export default JRPC;
export const {
  version,
  protocolVersion,
  WebSocket,
  Request,
  Response,
  RemoteError,
  LocalError,
  TimeoutError,
  ConnectionClosedError,
  CancelledError,
} = JRPC;
