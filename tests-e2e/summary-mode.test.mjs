// The dashboard above edm-stream's threshold, the whole system running:
// store events through the relay's batch endpoint at four times the
// threshold switch edm-stream to summaries; a real dashboard in Chromium
// then logs edm-trending's sample ("1 in N") instead of every event, and its
// live clicks per product equal edm-stats' for the same minutes. Needs the
// real Kafka and Postgres (`./edm infra up`) and every service's binary;
// skipped, with the reason, when something is missing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openBrowser } from './lib/browser.mjs';
import { waitFor } from './lib/fakes.mjs';
import { freshPrefixWithTopics, infraEnv } from './lib/infra.mjs';
import { hasBinary, serviceSet } from './lib/services.mjs';
import { screenshotPath } from './lib/screenshots.mjs';

const SERVICES = ['edm-relay', 'edm-stream', 'edm-stats', 'edm-trending', 'edm-dashboard'];
const THRESHOLD = 50;
const PER_SECOND = 200;
const SECONDS = 12;
const PRODUCTS = ['summary-kit', 'summary-mug', 'summary-stove', 'summary-beans'];

const infra = infraEnv();
const missing = [
  ...SERVICES.filter((name) => !hasBinary(name)).map((name) => `binary ${name}`),
  ...Object.entries(infra)
    .filter(([, value]) => !value)
    .map(([name]) => name),
];

/** Posts `PER_SECOND` clicks a second for `SECONDS` through the relay's batch endpoint, spread over PRODUCTS. */
async function produceClicks(relayUrl) {
  const perProduct = new Map(PRODUCTS.map((id) => [id, 0]));
  for (let second = 0; second < SECONDS; second++) {
    const started = Date.now();
    const batch = [];
    for (let n = 0; n < PER_SECOND; n++) {
      const id = PRODUCTS[(second * PER_SECOND + n) % PRODUCTS.length];
      perProduct.set(id, perProduct.get(id) + 1);
      batch.push({
        topic: 'edm-ui-click',
        uuid: `visitor-${n % 16}`,
        event_timestamp: Date.now(),
        properties: { button_id: id, description: 'button click' },
      });
    }
    const response = await fetch(`${relayUrl}/api/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(batch),
    });
    assert.equal(response.status, 200, await response.text());
    await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - started))));
  }
  return perProduct;
}

test(
  'above the threshold the dashboard logs a sample, "1 in N", and its live totals equal edm-stats\'',
  { skip: missing.length > 0 ? `needs ${missing.join(', ')}` : false, timeout: 180000 },
  async () => {
    const prefix = await freshPrefixWithTopics();
    const services = await serviceSet(SERVICES, (url) => ({
      KAFKA_URL: infra.KAFKA_URL,
      KAFKA_PREFIX: prefix,
      EDM_ALLOWED_ORIGINS: url('edm-dashboard'),
    }));
    const { url, start } = services;
    const browser = await openBrowser();
    try {
      await start('edm-relay');
      await start('edm-stream', { EDM_STREAM_RAW_EVENTS_PER_SECOND: String(THRESHOLD) });
      await start('edm-stats', { DATABASE_URL: infra.DATABASE_URL });
      await start('edm-trending');
      await start('edm-dashboard', { EDM_STREAM_URL: url('edm-stream'), EDM_STATS_URL: url('edm-stats') });

      const page = await browser.newPage();
      await page.goto(url('edm-dashboard'));
      await waitFor(async () => (await page.textContent('#stream-state-text')).trim() === 'live', 10000, 'live');
      const since = await page.$eval('.live-since', (time) => time.dateTime);

      const produced = await produceClicks(url('edm-relay'));
      const total = [...produced.values()].reduce((sum, n) => sum + n, 0);
      await waitFor(
        async () => /^a sample, 1 in \d+ of [\d,]+ events\/s$/.test((await page.textContent('#log-mode')).trim()),
        10000,
        'the log to say it shows a sample',
      );
      const marks = await page.$$eval('#event-log .log-sample', (cells) => cells.map((cell) => cell.textContent));
      assert.ok(marks.length > 0, 'sampled events logged');
      for (const mark of marks) assert.match(mark, /^1 in \d+$/);

      // Exact totals: the dashboard's, from the counts, equal what was
      // produced and what edm-stats answers for the same minutes.
      await waitFor(
        async () => (await page.textContent('#live-click-total')).trim() === total.toLocaleString('en-US'),
        30000,
        `the dashboard to count ${total} clicks`,
      );
      const live = new Map(
        await page.evaluate(() => {
          const chart = window.Chart.getChart(document.getElementById('live-by-product'));
          return chart.data.labels.map((label, i) => [label, chart.data.datasets[0].data[i]]);
        }),
      );
      const statsClicks = async () => {
        const response = await fetch(`${url('edm-stats')}/api/v1/clicks?from=${encodeURIComponent(since)}`);
        assert.equal(response.status, 200);
        return new Map((await response.json()).buttons.map((row) => [row.button_id, row.clicks]));
      };
      await waitFor(
        async () => {
          const counted = await statsClicks();
          return PRODUCTS.every((id) => counted.get(id) === produced.get(id));
        },
        30000,
        'edm-stats to count every click',
      );
      const stats = await statsClicks();
      assert.deepEqual(
        PRODUCTS.map((id) => [live.get(id), stats.get(id)]),
        PRODUCTS.map((id) => [produced.get(id), produced.get(id)]),
        'dashboard and edm-stats, per product, against what was produced',
      );
      await page.screenshot({ path: screenshotPath('dashboard-summary-live.png'), fullPage: true });
      assert.deepEqual(browser.problems.pageErrors, []);
      assert.deepEqual(browser.problems.cspViolations, []);
    } finally {
      await browser.close();
      await services.stopAll();
    }
  },
);
