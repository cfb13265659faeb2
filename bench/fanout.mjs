// Stream fan-out and end-to-end latency client: connects N official
// socket.io-client clients to edm-stream, then records, for every event each
// client gets, the delay from the event's event_timestamp (set by the load
// generator when it produced or posted the event) to its receipt, in whole
// milliseconds. Events of the warm-up (button id "bench-warmup") are left
// out. Prints READY once all are connected, and one JSON line of results
// after the given duration; with --histogram the line also holds the count
// of deliveries per delay in ms (for the latency plot).
//   node bench/fanout.mjs URL CLIENTS SECONDS [--histogram]
import { createRequire } from "node:module";
const require = createRequire(new URL("../crates/edm-stream/tests/client/package.json", import.meta.url));
const { io } = require("socket.io-client");

const [url, clients, seconds] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const withHistogram = process.argv.includes("--histogram");
const TIMESTAMP = /"event_timestamp":\s*(\d+)/;
const delays = [];
const perClient = new Array(clients).fill(0);
let warmUp = 0;
let connected = 0;
const sockets = [];
for (let i = 0; i < clients; i++) {
  const s = io(url, { transports: ["websocket"], reconnection: false, query: { recent: "0" } });
  sockets.push(s);
  s.on("connect", () => {
    connected += 1;
    if (connected === clients) {
      process.stdout.write("READY\n");
      setTimeout(finish, seconds * 1000);
    }
  });
  s.on("event", (text) => {
    const at = Date.now();
    // Only the timestamp is needed: a search costs these clients, which
    // share the machine with edm-stream, far less than parsing the event.
    if (text.includes('"bench-warmup"')) {
      warmUp += 1;
      return;
    }
    delays.push(at - Number(TIMESTAMP.exec(text)[1]));
    perClient[i] += 1;
  });
  s.on("connect_error", (e) => { process.stderr.write(`connect_error: ${e.message}\n`); process.exit(2); });
}
function pct(sorted, p) { return sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] : null; }
function finish() {
  for (const s of sockets) s.disconnect();
  const sorted = delays.sort((a, b) => a - b);
  const out = { clients, deliveries: sorted.length, warm_up_deliveries: warmUp,
                min_per_client: Math.min(...perClient), max_per_client: Math.max(...perClient),
                p50_ms: pct(sorted, 50), p99_ms: pct(sorted, 99), max_ms: sorted[sorted.length - 1] ?? null };
  if (withHistogram) {
    const histogram = {};
    for (const d of sorted) histogram[d] = (histogram[d] ?? 0) + 1;
    out.histogram_ms = histogram;
  }
  process.stdout.write(JSON.stringify(out) + "\n", () => process.exit(0));
}
