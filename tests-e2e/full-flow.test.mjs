// The whole system in a browser: store -> edm-relay -> Kafka -> edm-stream
// -> dashboard, and Kafka -> edm-stats -> stats API. Needs the real Kafka
// and Postgres (`./edm infra up`) and every service's binary; skipped, with
// the reason, when something is missing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openBrowser } from './lib/browser.mjs';
import { waitFor } from './lib/fakes.mjs';
import { freshPrefixWithTopics, infraEnv } from './lib/infra.mjs';
import { freePort, hasBinary, startService } from './lib/services.mjs';
import { screenshotPath } from './lib/screenshots.mjs';

const SERVICES = ['edm-relay', 'edm-stream', 'edm-stats', 'edm-ui', 'edm-dashboard'];
const PRODUCTS = ['areopress-coffee-maker', "the-camper's-kit", 'msr-reactor-2.5l-stove-system'];
const byId = (id) => `[id="${id.replace(/"/g, '\\"')}"]`;

const infra = infraEnv();
const missing = [
  ...SERVICES.filter((name) => !hasBinary(name)).map((name) => `binary ${name}`),
  ...Object.entries(infra)
    .filter(([, value]) => !value)
    .map(([name]) => name),
];

async function clickCounts(statsUrl) {
  const response = await fetch(`${statsUrl}/api/clickCount`);
  assert.equal(response.status, 200);
  const rows = await response.json();
  return new Map(rows.map((row) => [row.button_id, Number(row.sum)]));
}

test(
  'three clicks in the store show on the dashboard within 2 s and raise the stats by exactly three',
  { skip: missing.length > 0 ? `needs ${missing.join(', ')}` : false, timeout: 120000 },
  async () => {
    const prefix = await freshPrefixWithTopics();
    const ports = Object.fromEntries(await Promise.all(SERVICES.map(async (name) => [name, await freePort()])));
    const url = (name) => `http://127.0.0.1:${ports[name]}`;
    const common = {
      KAFKA_URL: infra.KAFKA_URL,
      KAFKA_PREFIX: prefix,
      EDM_ALLOWED_ORIGINS: `${url('edm-ui')},${url('edm-dashboard')}`,
    };
    const started = [];
    const browser = await openBrowser();
    try {
      const start = async (name, env) => {
        const service = await startService(name, { ...common, ...env }, { port: ports[name], timeoutMs: 60000 });
        started.push(service);
        return service;
      };
      await start('edm-relay', {});
      await start('edm-stream', {});
      await start('edm-stats', { DATABASE_URL: infra.DATABASE_URL });
      const store = await start('edm-ui', { EDM_RELAY_URL: url('edm-relay') });
      const dashboard = await start('edm-dashboard', {
        EDM_STREAM_URL: url('edm-stream'),
        EDM_STATS_URL: url('edm-stats'),
      });
      const before = await clickCounts(url('edm-stats'));

      const dashboardPage = await browser.newPage();
      await dashboardPage.goto(dashboard.url);
      await waitFor(
        async () => (await dashboardPage.textContent('#stream-state-text')).trim() === 'live',
        10000,
        'dashboard live',
      );
      const storePage = await browser.newPage();
      await storePage.goto(store.url);
      const clickedAt = Date.now();
      for (const id of PRODUCTS) await storePage.click(byId(id));

      await waitFor(
        async () => (await dashboardPage.textContent('#live-click-total')).trim() === '3',
        2000,
        'three clicks on the dashboard',
      );
      assert.ok(Date.now() - clickedAt < 2500);
      const logged = await dashboardPage.$$eval('#event-log .log-click .log-what', (cells) =>
        cells.map((cell) => cell.textContent),
      );
      assert.deepEqual([...logged].sort(), [...PRODUCTS].sort());

      const rose = async () => {
        const now = await clickCounts(url('edm-stats'));
        return PRODUCTS.map((id) => (now.get(id) || 0) - (before.get(id) || 0));
      };
      await waitFor(async () => (await rose()).every((delta) => delta >= 1), 20000, 'stats to count the clicks');
      await new Promise((r) => setTimeout(r, 2000));
      assert.deepEqual(await rose(), [1, 1, 1], 'each click counted exactly once');

      await storePage.screenshot({ path: screenshotPath('full-store.png') });
      await dashboardPage.waitForTimeout(2000);
      await dashboardPage.screenshot({ path: screenshotPath('full-dashboard.png'), fullPage: true });
      assert.deepEqual(browser.problems.pageErrors, []);
      assert.deepEqual(browser.problems.cspViolations, []);
    } finally {
      await browser.close();
      for (const service of started.reverse()) await service.stop();
    }
  },
);
