// Reliability harness client: an official socket.io-client that stays
// connected to edm-stream, through the dashboard's client module (WebSocket
// only, resuming where it stopped when the service restarts), and prints
// the event_id and position of every event it receives, one per line
// ("<event_id> <position>").
//   node listen.mjs URL
import { createRequire } from "node:module";
const require = createRequire(new URL("../edm-stream/tests/client/package.json", import.meta.url));
const { io } = require("socket.io-client");
const EdmStream = createRequire(import.meta.url)("../edm-dashboard/static/edm-stream-client.js");

const socket = EdmStream.connect(
  io,
  process.argv[2],
  {
    event(text, position) {
      try {
        const id = JSON.parse(text).event_id;
        if (id) process.stdout.write(`${id} ${position}\n`);
      } catch {
        // not ours
      }
    },
  },
  { reconnectionDelay: 200, reconnectionDelayMax: 1000 }
);
socket.on("connect", () => process.stdout.write("CONNECTED\n"));
process.on("SIGTERM", () => {
  socket.disconnect();
  process.exit(0);
});
