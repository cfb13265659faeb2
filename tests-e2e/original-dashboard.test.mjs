// The original dashboard's live view beside this project's apps: a page on
// another origin connects to edm-stream the way trevorscott/edm-dashboard
// does, with socket.io-client 2 (npm) and `io(url)`: Engine.IO 3, its
// long-polling requests sent with credentials, then an upgrade. A click
// posted to edm-relay as the original store posts it must reach it. A
// second page keeps to long-polling, so that every event crosses origins
// on a credentialed request.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { openBrowser } from './lib/browser.mjs';
import { waitFor } from './lib/fakes.mjs';
import { freshPrefixWithTopics, infraEnv } from './lib/infra.mjs';
import { freePort, hasBinary, startService } from './lib/services.mjs';

const SERVICES = ['edm-relay', 'edm-stream'];
const infra = infraEnv(['KAFKA_URL']);
const missing = [
  ...SERVICES.filter((name) => !hasBinary(name)).map((name) => `binary ${name}`),
  ...Object.entries(infra)
    .filter(([, value]) => !value)
    .map(([name]) => name),
];

// socket.io-client 2's browser bundle, as the original dashboard ships it.
const require = createRequire(import.meta.url);
const CLIENT_2 = readFileSync(require.resolve('socket.io-client-2/dist/socket.io.js'));

/** A page origin serving the client and a page that connects with `options`. */
async function startPageOrigin(streamUrl) {
  const port = await freePort();
  const page = (options) => `<!doctype html><meta charset="utf-8"><title>original dashboard</title>
<script src="/socket.io.js"></script>
<script>
  window.received = [];
  window.connected = 0;
  window.errors = [];
  const socket = ${options ? `io(${JSON.stringify(streamUrl)}, ${JSON.stringify(options)})` : `io(${JSON.stringify(streamUrl)})`};
  // The handshake's transport (an upgrade, if any, comes after it).
  window.first = socket.io.engine.transport.name;
  socket.on('connect', () => (window.connected += 1));
  socket.on('connect_error', (e) => window.errors.push(String(e && e.message || e)));
  socket.on('event', (message) => window.received.push(message));
</script>`;
  const server = createServer((request, response) => {
    if (request.url === '/socket.io.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' });
      response.end(CLIENT_2);
    } else if (request.url === '/polling') {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end(page({ transports: ['polling'] }));
    } else {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end(page(null));
    }
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

test(
  "the original dashboard's Socket.io 2 client on another origin receives a click posted to the relay",
  { skip: missing.length > 0 ? `needs ${missing.join(', ')}` : false, timeout: 60000 },
  async () => {
    const prefix = await freshPrefixWithTopics();
    const [relayPort, streamPort] = await Promise.all([freePort(), freePort()]);
    const streamUrl = `http://127.0.0.1:${streamPort}`;
    const origin = await startPageOrigin(streamUrl);
    const common = { KAFKA_URL: infra.KAFKA_URL, KAFKA_PREFIX: prefix, EDM_ALLOWED_ORIGINS: origin.url };
    const started = [];
    const browser = await openBrowser();
    try {
      started.push(await startService('edm-relay', common, { port: relayPort }));
      started.push(await startService('edm-stream', common, { port: streamPort }));
      const pages = [];
      for (const path of ['/', '/polling']) {
        const page = await browser.newPage();
        await page.goto(`${origin.url}${path}`);
        await waitFor(
          async () => (await page.evaluate(() => window.connected + window.errors.length)) > 0,
          10000,
          `${path} connects`,
        );
        const { first, errors } = await page.evaluate(() => ({ first: window.first, errors: window.errors }));
        assert.deepEqual(errors, [], `${path}: no connect error`);
        assert.equal(first, 'polling', `${path}: the handshake went over long-polling`);
        pages.push([path, page]);
      }

      // As the original store posts a click (no Idempotency-Key).
      const click = JSON.stringify({
        topic: 'edm-ui-click',
        uuid: 'original-visitor',
        event_timestamp: Date.now(),
        properties: { button_id: "the-camper's-kit", description: 'button click' },
      });
      const posted = await fetch(`http://127.0.0.1:${relayPort}/produceClickMessage`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: click,
      });
      assert.ok(posted.ok, `the relay took the click: ${posted.status} ${await posted.text()}`);

      for (const [path, page] of pages) {
        await waitFor(
          async () => (await page.evaluate(() => window.received.length)) > 0,
          10000,
          `${path} receives the click`,
        );
        await page.waitForTimeout(500);
        assert.deepEqual(await page.evaluate(() => window.received), [click], `${path}: the click, once`);
      }
      assert.deepEqual(browser.problems.pageErrors, []);
    } finally {
      await browser.close();
      for (const service of started) await service.stop();
      origin.close();
    }
  },
);
