// Official Socket.io clients speaking edm-stream's resume protocol through
// the dashboard's own client module (edm-dashboard/static/edm-stream-client.js).
// Driven by Rust tests over stdin/stdout.
//
// Input (env EDM_CLIENT_SPEC, JSON): { "url": "...", "clients": N }
// Prints "READY" once every client is connected. Then reads commands, one
// a line: "DROP i" closes client i's connection (as a network blip would),
// "BACK i" reconnects it, "STOP" prints one JSON line and exits:
//   { "clients": [ { "ids": [event_id…], "statuses": [stream message…],
//                    "counts": [[position, record text]…],
//                    "samples": [[position, record text]…], "connects": n,
//                    "lifecycle": ["<Unix time in ms> <what happened>"…] } ] }
// A trending record's id is recorded as "trending:" + its event_id.
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const require = createRequire(import.meta.url);
const EdmStream = require("../../../edm-dashboard/static/edm-stream-client.js");

const spec = JSON.parse(process.env.EDM_CLIENT_SPEC);
const results = [];
const sockets = [];
let connected = 0;
for (let i = 0; i < spec.clients; i++) {
  const result = { ids: [], statuses: [], counts: [], samples: [], connects: 0, lifecycle: [] };
  const note = (what) => result.lifecycle.push(`${Date.now()} ${what}`);
  results.push(result);
  const socket = EdmStream.connect(
    io,
    spec.url,
    {
      event(text) {
        let id = text;
        try {
          id = JSON.parse(text).event_id ?? text;
        } catch {
          // not JSON: keep the text
        }
        result.ids.push(id);
      },
      trending(text) {
        let id = text;
        try {
          id = "trending:" + JSON.parse(text).event_id;
        } catch {
          // not JSON: keep the text
        }
        result.ids.push(id);
      },
      counts(text, position) {
        result.counts.push([position, text]);
      },
      sample(text, position) {
        result.samples.push([position, text]);
      },
      status(status) {
        result.statuses.push(status);
      },
    },
    { reconnectionDelay: 100, reconnectionDelayMax: 500 }
  );
  socket.on("disconnect", (reason) => note(`disconnect ${reason} after ${result.ids.length} events`));
  socket.on("connect_error", (error) => note(`connect_error ${error.message}`));
  socket.io.on("reconnect_attempt", (attempt) => note(`reconnect_attempt ${attempt}`));
  socket.on("connect", () => {
    note(`connect ${socket.id} after ${result.ids.length} events`);
    result.connects += 1;
    if (result.connects === 1) {
      connected += 1;
      if (connected === spec.clients) process.stdout.write("READY\n");
    }
  });
  sockets.push(socket);
}

createInterface({ input: process.stdin }).on("line", (line) => {
  const [command, index] = line.trim().split(" ");
  if (command === "DROP") sockets[Number(index)].disconnect();
  if (command === "BACK") sockets[Number(index)].connect();
  if (command === "STOP") {
    for (const s of sockets) s.disconnect();
    process.stdout.write(JSON.stringify({ clients: results }) + "\n", () => process.exit(0));
  }
});
