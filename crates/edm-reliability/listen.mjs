// Reliability harness client: an official socket.io-client that stays
// connected to edm-stream (reconnecting when the service restarts) and
// prints the event_id of every event it receives, one per line.
//   node listen.mjs URL
import { createRequire } from "node:module";
const require = createRequire(new URL("../edm-stream/tests/client/package.json", import.meta.url));
const { io } = require("socket.io-client");

const socket = io(process.argv[2], { transports: ["websocket"], reconnectionDelay: 200, reconnectionDelayMax: 1000 });
socket.on("connect", () => process.stdout.write("CONNECTED\n"));
socket.on("event", (text) => {
  try {
    const id = JSON.parse(text).event_id;
    if (id) process.stdout.write(`${id}\n`);
  } catch {
    // not ours
  }
});
process.on("SIGTERM", () => { socket.disconnect(); process.exit(0); });
