// Real dashboards in Chromium, reaching three edm-stream instances through
// Debian's nginx in round-robin (every request to the next instance, no
// affinity: Heroku's router without session affinity). Every dashboard
// logs every click, also after one instance is SIGKILLed while clicks keep
// coming and comes back. Needs the real Kafka (`./edm infra up`), the
// binaries and nginx; skipped, with the reason, when something is missing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openBrowser } from './lib/browser.mjs';
import { waitFor } from './lib/fakes.mjs';
import { freshPrefixWithTopics, infraEnv } from './lib/infra.mjs';
import { hasNginx, startRoundRobinProxy } from './lib/proxy.mjs';
import { freePort, hasBinary, startService } from './lib/services.mjs';

const SERVICES = ['edm-relay', 'edm-stream', 'edm-dashboard'];
const DASHBOARDS = 4;

const infra = infraEnv();
const missing = [
  ...SERVICES.filter((name) => !hasBinary(name)).map((name) => `binary ${name}`),
  ...(infra.KAFKA_URL ? [] : ['KAFKA_URL']),
  ...(hasNginx() ? [] : ['nginx']),
];

async function postClicks(relayUrl, from, count) {
  for (let n = from; n < from + count; n++) {
    const response = await fetch(`${relayUrl}/produceClickMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        topic: 'edm-ui-click',
        uuid: `visitor-${n % 5}`,
        event_timestamp: Date.now(),
        properties: { button_id: `product-${n}`, description: 'button click' },
      }),
    });
    assert.equal(response.status, 200, await response.text());
    await new Promise((r) => setTimeout(r, 50));
  }
}

test(
  'dashboards behind a round-robin proxy in front of three instances show every click, through an instance dying',
  { skip: missing.length > 0 ? `needs ${missing.join(', ')}` : false, timeout: 120000 },
  async () => {
    const prefix = await freshPrefixWithTopics();
    const dashboardPort = await freePort();
    const dashboardUrl = `http://127.0.0.1:${dashboardPort}`;
    const common = { KAFKA_URL: infra.KAFKA_URL, KAFKA_PREFIX: prefix, EDM_ALLOWED_ORIGINS: dashboardUrl };
    const started = [];
    const start = async (name, env, options = {}) => {
      const service = await startService(name, { ...common, ...env }, options);
      started.push(service);
      return service;
    };
    const browser = await openBrowser();
    let proxy;
    try {
      const relay = await start('edm-relay', {});
      const streams = [];
      for (let i = 0; i < 3; i++) streams.push(await start('edm-stream', {}));
      proxy = await startRoundRobinProxy(streams.map((s) => s.port));
      await start('edm-dashboard', { EDM_STREAM_URL: proxy.url }, { port: dashboardPort });

      const pages = [];
      for (let i = 0; i < DASHBOARDS; i++) {
        const page = await browser.newPage();
        await page.goto(dashboardUrl);
        pages.push(page);
      }
      const all = async (check) => (await Promise.all(pages.map(check))).every(Boolean);
      // Clicks in the log (each product id once): the raw events themselves.
      const total = (page) =>
        page.$$eval('#event-log .log-click .log-what', (cells) => String(new Set(cells.map((c) => c.textContent)).size));
      const rows = (page) => page.$$eval('#event-log .log-click', (cells) => String(cells.length));
      await waitFor(() => all(async (p) => (await p.textContent('#stream-state-text')).trim() === 'live'), 10000, 'live');

      await postClicks(relay.url, 0, 20);
      await waitFor(() => all(async (p) => (await total(p)) === '20'), 5000, 'every dashboard shows 20 clicks');

      // One instance dies while clicks keep coming, and comes back.
      const dying = streams[1];
      await dying.kill();
      await postClicks(relay.url, 20, 20);
      streams[1] = await start('edm-stream', {}, { port: dying.port });
      await postClicks(relay.url, 40, 10);
      await waitFor(() => all(async (p) => (await total(p)) === '50'), 15000, 'every dashboard shows 50 clicks');
      await new Promise((r) => setTimeout(r, 1000));
      for (const page of pages) assert.equal(await rows(page), '50', 'no click shown twice');

      assert.deepEqual(browser.problems.pageErrors, []);
      assert.deepEqual(browser.problems.cspViolations, []);
    } finally {
      await browser.close();
      proxy?.stop();
      for (const service of started.reverse()) await service.stop();
    }
  },
);
