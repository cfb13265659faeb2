// Connects Socket.io clients to edm-stream with the official client and
// records what each receives. Driven by edm-stream's Rust tests.
//
// Input (env EDM_CLIENT_SPEC, JSON):
//   { "url": "http://127.0.0.1:PORT", "expect": N, "timeout_ms": T,
//     "clients": [ { "query": {...}, "stall": false, "expect": N,
//                    "on": ["event", "trending"], "version": 2,
//                    "local_address": "127.0.0.2", "transport": "polling",
//                    "headers": {...} }, ... ] }
// (a client's own "expect" overrides the common one; "on" names the
// Socket.io events it records, default ["event"]; "version": 2 is
// socket.io-client 2 as the original dashboard calls it, `io(url)` with
// default options: Engine.IO 3, long-polling first, then an upgrade;
// "local_address" is the address it connects from; "transport": "polling"
// makes a socket.io-client 4 long-poll instead of opening a WebSocket, over
// keep-alive connections all such clients share; "headers" are sent with
// every request, an X-Forwarded-For say)
// Prints "READY" once every client is connected, then, when every
// non-stalled client has N messages (or at the timeout), one JSON line:
//   { "clients": [ { "events": [payload…], "names": [event name…],
//                    "received_ms": [epoch ms…] } ] }
import http from "node:http";
import { io } from "socket.io-client";
import io2 from "socket.io-client-2";

const spec = JSON.parse(process.env.EDM_CLIENT_SPEC);
const results = spec.clients.map(() => ({ events: [], names: [], received_ms: [] }));
const sockets = [];

function finish() {
  for (const s of sockets) s.disconnect();
  // Exit only once the (possibly large) line is flushed to the pipe.
  process.stdout.write(JSON.stringify({ clients: results }) + "\n", () => process.exit(0));
}

function done() {
  return spec.clients.every((c, i) => c.stall || results[i].events.length >= (c.expect ?? spec.expect));
}

// Long-polling clients share keep-alive connections, as a browser does.
const sharedAgent = new http.Agent({ keepAlive: true, maxSockets: 4 });

let connected = 0;
spec.clients.forEach((client, i) => {
  // Long-polling requests go through an http.Agent, WebSockets take
  // localAddress.
  const from = client.local_address
    ? { localAddress: client.local_address, agent: new http.Agent({ localAddress: client.local_address }) }
    : {};
  const socket =
    client.version === 2
      ? // The original dashboard's options (none); forceNew only gives each
        // client its own connection instead of sharing one per URL.
        io2(spec.url, { forceNew: true, ...(client.query ? { query: client.query } : {}), ...from })
      : io(spec.url, {
          query: client.query ?? {},
          transports: [client.transport ?? "websocket"],
          reconnection: false,
          ...(client.transport === "polling" ? { agent: sharedAgent } : {}),
          ...(client.headers ? { extraHeaders: client.headers } : {}),
          ...from,
        });
  sockets.push(socket);
  socket.on("connect", () => {
    if (client.stall) {
      // Stop reading from the TCP socket: a browser tab that froze.
      socket.io.engine.transport.ws._socket.pause();
    }
    connected += 1;
    if (connected === spec.clients.length) process.stdout.write("READY\n");
  });
  for (const name of client.on ?? ["event"]) {
    socket.on(name, (payload) => {
      results[i].events.push(payload);
      results[i].names.push(name);
      results[i].received_ms.push(Date.now());
      if (done()) finish();
    });
  }
  socket.on("connect_error", (err) => {
    process.stderr.write(`client ${i}: ${err.message}\n`);
    process.exit(2);
  });
});

setTimeout(finish, spec.timeout_ms);
