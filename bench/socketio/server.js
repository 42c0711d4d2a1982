"use strict";
// The socket.io server of jrpc-bench's fan-out load: `node server.js <port>` (0 picks a free
// one) listens on 127.0.0.1, websocket transport only, prints `PORT <n>` once it listens and
// exits when its standard input closes (the benchmark holds the other end). A `publish` event
// from one socket goes to every other socket as a `message` event: `socket.broadcast.emit`,
// which is `io.emit` less the sender (socket.io encodes the packet once for all of them).
const http = require("node:http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 0);
const httpServer = http.createServer();
const io = new Server(httpServer, {
  transports: ["websocket"],
  serveClient: false,
  perMessageDeflate: false,
});

io.on("connection", (socket) => {
  socket.on("publish", (payload) => {
    socket.broadcast.emit("message", payload);
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  process.stdout.write(`PORT ${httpServer.address().port}\n`);
});

process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
