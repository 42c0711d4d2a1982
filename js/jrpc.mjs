// ES-module entry for jrpc.js. jrpc.js stays the single source of truth; how this file gets its
// API depends on how jrpc.js was evaluated:
// - Node and bundlers load jrpc.js as CommonJS ("type": "commonjs" in package.json): its
//   module.exports is the namespace's default export;
// - a browser evaluates `import "./jrpc.js"` as an ES module, which has no exports: jrpc.js
//   then hands its API over under the registry symbol `Symbol.for("jrpc.js")`.
// Neither defines the global `JRPC`, which only a classic <script> does.
import * as loaded from "./jrpc.js";

const JRPC = loaded.default !== undefined ? loaded.default : globalThis[Symbol.for("jrpc.js")];
if (JRPC === undefined || typeof JRPC.WebSocket !== "function") {
  throw new Error("jrpc.mjs: jrpc.js did not load");
}

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
