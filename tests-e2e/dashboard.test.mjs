// The dashboard in a real browser: with edm-stream and edm-stats absent, and
// against stand-ins that speak their contracts (a real Socket.io server).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openBrowser } from './lib/browser.mjs';
import { startFakeStats, startFakeStream, waitFor } from './lib/fakes.mjs';
import { freePort, startService } from './lib/services.mjs';
import { screenshotPath } from './lib/screenshots.mjs';

const XSS = '<img src=x onerror=alert(1)>';

function click(buttonId, secondsAgo = 0, uuid = '9f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f') {
  return {
    topic: 'edm-ui-click',
    uuid,
    event_timestamp: Date.now() - secondsAgo * 1000,
    properties: { button_id: buttonId, description: 'button click' },
  };
}

function pageLoad(secondsAgo = 0) {
  return {
    topic: 'edm-ui-pageload',
    uuid: '9f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f',
    event_timestamp: Date.now() - secondsAgo * 1000,
    properties: { user_agent: 'Mozilla/5.0 (X11; Linux x86_64)', description: 'store page', url: 'http://localhost:3000' },
  };
}

const text = (page, selector) => page.textContent(selector).then((t) => t.trim());
const chartLabels = (page, id) =>
  page.evaluate((canvasId) => window.Chart.getChart(document.getElementById(canvasId)).data.labels, id);
const chartValues = (page, id) =>
  page.evaluate((canvasId) => window.Chart.getChart(document.getElementById(canvasId)).data.datasets[0].data, id);

describe('the dashboard', () => {
  let browser;
  before(async () => {
    browser = await openBrowser();
  });
  after(async () => {
    await browser.close();
  });

  test('with edm-stream and edm-stats absent, says so and shows zero data', async () => {
    const dashboard = await startService('edm-dashboard', {
      EDM_STREAM_URL: `http://127.0.0.1:${await freePort()}`,
      EDM_STATS_URL: `http://127.0.0.1:${await freePort()}`,
    });
    try {
      const page = await browser.newPage();
      await page.goto(dashboard.url);
      await waitFor(async () => (await text(page, '#stream-state-text')) === 'reconnecting…', 5000, 'reconnecting');
      await waitFor(async () => (await text(page, '#stats-state-text')).startsWith('unavailable'), 5000, 'stats unavailable');
      assert.equal(await text(page, '#live-click-total'), '0');
      assert.equal(await text(page, '#live-pageload-total'), '0');
      assert.equal(await text(page, '#history-click-total'), '0');
      assert.equal(await page.isVisible('#event-log-empty'), true);
      assert.equal(await page.isVisible('#live-by-product-empty'), true);
      assert.match(await text(page, '#history-by-product-empty'), /unavailable/);
      assert.deepEqual(await chartLabels(page, 'live-by-product'), []);
      await page.screenshot({ path: screenshotPath('dashboard-offline.png'), fullPage: true });
      await page.close();
      assert.deepEqual(browser.problems.pageErrors, []);
      assert.deepEqual(browser.problems.cspViolations, []);
    } finally {
      await dashboard.stop();
    }
  });

  test('shows history and live events as text, and counts a replayed event once', async () => {
    const stats = await startFakeStats({
      clickCount: [
        { button_id: 'areopress-coffee-maker', sum: 12 },
        { button_id: "the-camper's-kit", sum: 7 },
        { button_id: XSS, sum: 2 },
      ],
      clickHistory: [4, 3, 2, 5, 7].map((clicks, i) => ({
        Day: new Date(Date.UTC(2025, 0, 10 + i)).toISOString(),
        clicks,
      })),
    });
    const stream = await startFakeStream([click('areopress-coffee-maker', 20), pageLoad(25)]);
    const dashboard = await startService('edm-dashboard', { EDM_STREAM_URL: stream.url, EDM_STATS_URL: stats.url });
    try {
      const page = await browser.newPage();
      await page.goto(dashboard.url);
      await waitFor(async () => (await text(page, '#stream-state-text')) === 'live', 5000, 'live');
      await waitFor(async () => (await text(page, '#history-click-total')) === '21', 5000, 'history');
      assert.equal(await text(page, '#history-top-button'), 'areopress-coffee-maker');
      assert.deepEqual(await chartLabels(page, 'history-by-product'), ['areopress-coffee-maker', "the-camper's-kit", XSS]);
      assert.deepEqual(await chartValues(page, 'history-by-day'), [4, 3, 2, 5, 7]);

      // The recent events replayed on connect are shown.
      await waitFor(async () => (await text(page, '#live-pageload-total')) === '1', 3000, 'replayed page load');
      assert.equal(await text(page, '#live-click-total'), '1');

      // Three live clicks, one with markup for an id, show within 2 seconds.
      const sentAt = Date.now();
      for (const id of ["the-camper's-kit", 'bunum-wo-aa,-papua-new-guinea', XSS]) stream.emit(click(id));
      await waitFor(async () => (await text(page, '#live-click-total')) === '4', 2000, 'three live clicks');
      assert.ok(Date.now() - sentAt < 2000);
      const logged = await page.$$eval('#event-log .log-what', (cells) => cells.map((cell) => cell.textContent));
      assert.deepEqual(logged.slice(0, 3), [XSS, 'bunum-wo-aa,-papua-new-guinea', "the-camper's-kit"]);
      assert.equal(await page.locator('#event-log img').count(), 0, 'markup from an event became an element');
      const liveLabels = await chartLabels(page, 'live-by-product');
      assert.equal(liveLabels.length, 4);
      assert.ok(liveLabels.includes(XSS));

      // Reconnecting replays the recent events; none is counted twice.
      stream.dropClients();
      await waitFor(() => stream.clientCount() === 1, 8000, 'reconnect');
      await waitFor(async () => (await text(page, '#stream-state-text')) === 'live', 5000, 'live again');
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(await text(page, '#live-click-total'), '4');
      assert.equal(await text(page, '#live-pageload-total'), '1');

      // Garbage on the stream is shown as text and breaks nothing.
      stream.emit('not json <b>at all</b>');
      stream.emit(click('areopress-coffee-maker'));
      await waitFor(async () => (await text(page, '#live-click-total')) === '5', 2000, 'click after garbage');
      const rows = await page.$$eval('#event-log .log-what', (cells) => cells.map((cell) => cell.textContent));
      assert.ok(rows.includes('not json <b>at all</b>'));
      assert.equal(await page.locator('#event-log b').count(), 0);

      await page.screenshot({ path: screenshotPath('dashboard-live.png'), fullPage: true });
      assert.deepEqual(browser.problems.dialogs, [], 'an alert ran');
      assert.deepEqual(browser.problems.pageErrors, []);
      assert.deepEqual(browser.problems.cspViolations, []);
      await page.close();
    } finally {
      await dashboard.stop();
      await stream.close();
      await stats.close();
    }
  });
});
