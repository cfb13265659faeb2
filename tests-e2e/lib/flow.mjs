// The whole system as a user meets it: three clicks in the store show in a
// live dashboard's log within 2 s, its live totals (edm-trending's counts)
// equal edm-stats' for the same minutes, and the stats API counts each
// click exactly once.
// Shared by the full-flow test (services started here) and the deploy
// rehearsal (apps built and started the way Heroku does it).
import assert from 'node:assert/strict';
import { waitFor } from './fakes.mjs';

export const PRODUCTS = ['areopress-coffee-maker', "the-camper's-kit", 'msr-reactor-2.5l-stove-system'];
const byId = (id) => `[id="${id.replace(/"/g, '\\"')}"]`;

async function clickCounts(statsUrl) {
  const response = await fetch(`${statsUrl}/api/clickCount`);
  assert.equal(response.status, 200);
  const rows = await response.json();
  return new Map(rows.map((row) => [row.button_id, Number(row.sum)]));
}

/**
 * Runs the flow in `browser` (from openBrowser) against the store, dashboard
 * and stats at the given URLs. Returns the store and dashboard pages, left
 * open for screenshots.
 */
export async function clicksReachDashboardAndStats(browser, { storeUrl, dashboardUrl, statsUrl }) {
  const before = await clickCounts(statsUrl);

  const dashboardPage = await browser.newPage();
  await dashboardPage.goto(dashboardUrl);
  await waitFor(
    async () => (await dashboardPage.textContent('#stream-state-text')).trim() === 'live',
    10000,
    'dashboard live',
  );
  const storePage = await browser.newPage();
  await storePage.goto(storeUrl);
  const clickedAt = Date.now();
  for (const id of PRODUCTS) await storePage.click(byId(id));

  const logged = () =>
    dashboardPage.$$eval('#event-log .log-click .log-what', (cells) => cells.map((cell) => cell.textContent));
  await waitFor(async () => (await logged()).length === 3, 2000, 'three clicks in the dashboard\'s log');
  assert.ok(Date.now() - clickedAt < 2500);
  assert.deepEqual([...(await logged())].sort(), [...PRODUCTS].sort());
  // The totals come from edm-trending's counts, a second or two later.
  await waitFor(
    async () => (await dashboardPage.textContent('#live-click-total')).trim() === '3',
    15000,
    'three clicks in the dashboard\'s totals',
  );

  const rose = async () => {
    const now = await clickCounts(statsUrl);
    return PRODUCTS.map((id) => (now.get(id) || 0) - (before.get(id) || 0));
  };
  await waitFor(async () => (await rose()).every((delta) => delta >= 1), 20000, 'stats to count the clicks');
  await new Promise((r) => setTimeout(r, 2000));
  assert.deepEqual(await rose(), [1, 1, 1], 'each click counted exactly once');

  // The dashboard's live clicks per product are edm-stats' for the minutes
  // since the one it opened in.
  const since = await dashboardPage.$eval('.live-since', (time) => time.dateTime);
  const response = await fetch(`${statsUrl}/api/v1/clicks?from=${encodeURIComponent(since)}`);
  assert.equal(response.status, 200);
  const stats = new Map((await response.json()).buttons.map((row) => [row.button_id, row.clicks]));
  const live = await dashboardPage.evaluate(() => {
    const chart = window.Chart.getChart(document.getElementById('live-by-product'));
    return chart.data.labels.map((label, i) => [label, chart.data.datasets[0].data[i]]);
  });
  assert.deepEqual(
    PRODUCTS.map((id) => new Map(live).get(id)),
    PRODUCTS.map((id) => stats.get(id)),
    `live ${JSON.stringify(live)} against edm-stats since ${since}`,
  );

  assert.deepEqual(browser.problems.pageErrors, []);
  assert.deepEqual(browser.problems.cspViolations, []);
  return { storePage, dashboardPage };
}
