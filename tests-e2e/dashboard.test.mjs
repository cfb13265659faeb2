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

/**
 * edm-trending's record of the `name` window ("1m" or "5m") that ended
 * `endedMinutesAgo` whole minutes ago, listing `top` ([button id, clicks]).
 */
function trendingRecord(name, endedMinutesAgo, top) {
  const minute = 60000;
  const size = name === '1m' ? 60 : 300;
  const end = Math.floor(Date.now() / minute) * minute - endedMinutesAgo * minute;
  const start = end - size * 1000;
  const clicks = top.reduce((sum, [, n]) => sum + n, 0);
  return {
    topic: 'edm-trending',
    event_id: `trending-${name}-${start}`,
    window: { name, size_seconds: size, advance_seconds: 60, start, end },
    clicks,
    products: top.length,
    top: top.map(([button_id, n]) => ({ button_id, clicks: n })),
  };
}

/**
 * edm-trending's count of `name` (a button id, or a device type for
 * page loads) in the minute `minutesAgo` whole minutes before this one.
 */
function countsRecord(kind, name, count, { minutesAgo = 0, final = false } = {}) {
  const minute = Math.floor(Date.now() / 60000) * 60000 - minutesAgo * 60000;
  return { topic: 'edm-trending-counts', kind, name, minute, count, final };
}

/** Waits, if need be, until the current minute has `seconds` left, so a test's minute does not change under it. */
async function awayFromMinuteEnd(seconds = 10) {
  const left = 60000 - (Date.now() % 60000);
  if (left < seconds * 1000) await new Promise((r) => setTimeout(r, left + 100));
}

const text = (page, selector) => page.textContent(selector).then((t) => t.trim());
const texts = (page, selector) => page.$$eval(selector, (cells) => cells.map((cell) => cell.textContent));
const chartLabels = (page, id) =>
  page.evaluate((canvasId) => window.Chart.getChart(document.getElementById(canvasId)).data.labels, id);
const chartValues = (page, id, dataset = 0) =>
  page.evaluate(
    ([canvasId, n]) => window.Chart.getChart(document.getElementById(canvasId)).data.datasets[n].data,
    [id, dataset],
  );

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
      assert.equal(await text(page, '#trending-empty'), 'No trending data yet');
      assert.equal(await page.isVisible('#trending-windows'), false);
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

  test('shows history and live events as text; live totals come from the counts, a replay counts once', async () => {
    await awayFromMinuteEnd();
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
    const stream = await startFakeStream(
      [click('areopress-coffee-maker', 20), pageLoad(25)],
      [
        trendingRecord('5m', 1, [['areopress-coffee-maker', 9], ["the-camper's-kit", 4], [XSS, 2]]),
        trendingRecord('1m', 1, [["the-camper's-kit", 3], ['areopress-coffee-maker', 1]]),
      ],
      [
        // A minute before the page opened: not in its totals.
        countsRecord('click', 'areopress-coffee-maker', 50, { minutesAgo: 1, final: true }),
        countsRecord('click', 'areopress-coffee-maker', 1),
        countsRecord('pageload', 'desktop', 1),
      ]
    );
    const dashboard = await startService('edm-dashboard', { EDM_STREAM_URL: stream.url, EDM_STATS_URL: stats.url });
    try {
      const page = await browser.newPage();
      await page.goto(dashboard.url);
      await waitFor(async () => (await text(page, '#stream-state-text')) === 'live', 5000, 'live');
      await waitFor(async () => (await text(page, '#history-click-total')) === '21', 5000, 'history');
      assert.equal(await text(page, '#history-top-button'), 'areopress-coffee-maker');
      assert.deepEqual(await chartLabels(page, 'history-by-product'), ['areopress-coffee-maker', "the-camper's-kit", XSS]);
      assert.deepEqual(await chartValues(page, 'history-by-day'), [4, 3, 2, 5, 7]);

      // The recent counts sent on connect are this minute's totals so far;
      // the recent events are logged.
      await waitFor(async () => (await text(page, '#live-pageload-total')) === '1', 3000, 'replayed page load');
      assert.equal(await text(page, '#live-click-total'), '1');
      assert.equal((await texts(page, '#event-log .log-what')).length, 2);
      const since = await page.$eval('.live-since', (t) => t.dateTime);
      assert.equal(since, new Date(Math.floor(Date.now() / 60000) * 60000).toISOString(), 'totals since the minute the page opened');
      assert.equal(await text(page, '#log-mode'), 'every event');

      // Three live clicks, one with markup for an id, show in the log within
      // 2 seconds, and in the totals once their counts come.
      const sentAt = Date.now();
      for (const id of ["the-camper's-kit", 'bunum-wo-aa,-papua-new-guinea', XSS]) stream.emit(click(id));
      await waitFor(async () => (await texts(page, '#event-log .log-what')).length === 5, 2000, 'three live clicks logged');
      assert.ok(Date.now() - sentAt < 2000);
      for (const id of ["the-camper's-kit", 'bunum-wo-aa,-papua-new-guinea', XSS]) stream.emitCounts(countsRecord('click', id, 1));
      await waitFor(async () => (await text(page, '#live-click-total')) === '4', 2000, 'three live clicks counted');
      const logged = await page.$$eval('#event-log .log-what', (cells) => cells.map((cell) => cell.textContent));
      assert.deepEqual(logged.slice(0, 3), [XSS, 'bunum-wo-aa,-papua-new-guinea', "the-camper's-kit"]);
      assert.equal(await page.locator('#event-log img').count(), 0, 'markup from an event became an element');
      // Each row shows its event's own time on the 24-hour clock, as the Trending panel does.
      const times = await page.$$eval('#event-log time', (cells) => cells.map((t) => [t.dateTime, t.textContent]));
      assert.ok(times.length >= 4);
      for (const [iso, shown] of times) {
        const at = new Date(iso);
        const clock = [at.getHours(), at.getMinutes(), at.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
        assert.equal(shown, clock);
      }
      const liveLabels = await chartLabels(page, 'live-by-product');
      assert.equal(liveLabels.length, 4);
      assert.ok(liveLabels.includes(XSS));

      // Reconnecting replays the recent events and counts; none is counted
      // or logged twice.
      stream.dropClients();
      await waitFor(() => stream.clientCount() === 1, 8000, 'reconnect');
      await waitFor(async () => (await text(page, '#stream-state-text')) === 'live', 5000, 'live again');
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(await text(page, '#live-click-total'), '4');
      assert.equal(await text(page, '#live-pageload-total'), '1');
      assert.equal((await texts(page, '#event-log .log-what')).length, 5);

      // Garbage on the stream is shown as text and breaks nothing; a count
      // that grew replaces the one held, an older one changes nothing.
      stream.emit('not json <b>at all</b>');
      stream.emit(click('areopress-coffee-maker'));
      stream.emitCounts(countsRecord('click', 'areopress-coffee-maker', 2));
      stream.emitCounts(countsRecord('click', 'areopress-coffee-maker', 1));
      await waitFor(async () => (await text(page, '#live-click-total')) === '5', 2000, 'click after garbage');
      const rows = await page.$$eval('#event-log .log-what', (cells) => cells.map((cell) => cell.textContent));
      assert.ok(rows.includes('not json <b>at all</b>'));
      assert.equal(await page.locator('#event-log b').count(), 0);

      // The trending windows replayed on connect are shown too.
      assert.deepEqual(await texts(page, '#trending-5m-list .trending-name'), ['areopress-coffee-maker', "the-camper's-kit", XSS]);

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

  test('above edm-stream\'s threshold the log shows a sample and says "1 in N"; totals and the rate stay exact from the counts', async () => {
    await awayFromMinuteEnd(20);
    const stats = await startFakeStats();
    const stream = await startFakeStream();
    const dashboard = await startService('edm-dashboard', { EDM_STREAM_URL: stream.url, EDM_STATS_URL: stats.url });
    try {
      const page = await browser.newPage();
      await page.goto(dashboard.url);
      await waitFor(async () => (await text(page, '#stream-state-text')) === 'live', 5000, 'live');
      // Past the burst that follows connecting, counts are a rate too.
      await new Promise((r) => setTimeout(r, 2100));

      stream.emitStatus({ mode: 'summary', events_per_second: 12000 });
      await waitFor(async () => (await text(page, '#log-mode')) === 'a sample (none yet) of 12,000 events/s', 2000, 'summary mode');
      const sample = (id, offset, standsFor) => ({
        topic: 'edm-trending-sample',
        event: click(id),
        stands_for: standsFor,
        source: 'edm-ui-click/0',
        offset,
        second: Math.floor(Date.now() / 1000) * 1000,
      });
      stream.emitSample(sample(XSS, 7, 40));
      stream.emitSample(sample('kit', 8, 60));
      await waitFor(async () => (await texts(page, '#event-log .log-sample')).length === 2, 2000, 'sampled events logged');
      assert.deepEqual(await texts(page, '#event-log .log-sample'), ['1 in 60', '1 in 40']);
      assert.deepEqual(await texts(page, '#event-log .log-what'), ['kit', XSS]);
      assert.equal(await page.locator('#event-log img').count(), 0, 'markup from a sample became an element');
      assert.equal(await text(page, '#log-mode'), 'a sample, 1 in 50 of 12,000 events/s');

      // Totals follow the counts exactly, however many events the sample
      // shows: a provisional count, a larger one, a smaller one that
      // changes nothing, the final one, and nothing after it.
      stream.emitCounts(countsRecord('click', 'kit', 400));
      stream.emitCounts(countsRecord('click', 'kit', 900));
      stream.emitCounts(countsRecord('click', 'kit', 850));
      stream.emitCounts(countsRecord('click', XSS, 300));
      stream.emitCounts(countsRecord('pageload', 'mobile', 2000));
      stream.emitCounts(countsRecord('click', 'kit', 1000, { final: true }));
      stream.emitCounts(countsRecord('click', 'kit', 5));
      await waitFor(async () => (await text(page, '#live-click-total')) === '1,300', 2000, 'the counts');
      assert.equal(await text(page, '#live-pageload-total'), '2,000');
      assert.deepEqual(await chartLabels(page, 'live-by-product'), ['kit', XSS]);
      assert.deepEqual(await chartValues(page, 'live-by-product'), [1000, 300]);
      // Events per second: what the counts grew by, in the seconds they grew.
      await new Promise((r) => setTimeout(r, 1100));
      const sum = (values) => values.reduce((total, n) => total + n, 0);
      assert.equal(sum(await chartValues(page, 'live-rate', 0)), 1300);
      assert.equal(sum(await chartValues(page, 'live-rate', 1)), 2000);

      await page.screenshot({ path: screenshotPath('dashboard-summary.png'), fullPage: true });

      // Back under the threshold: every event again.
      stream.emitStatus({ mode: 'raw', events_per_second: 40 });
      await waitFor(async () => (await text(page, '#log-mode')) === 'every event', 2000, 'raw mode');
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

  test('"Trending now" shows the latest closed windows, most clicked first, as text, and says when late clicks left one incomplete; a replay changes nothing', async () => {
    const stats = await startFakeStats();
    const stream = await startFakeStream();
    const dashboard = await startService('edm-dashboard', { EDM_STREAM_URL: stream.url, EDM_STATS_URL: stats.url });
    try {
      const page = await browser.newPage();
      await page.goto(dashboard.url);
      await waitFor(async () => (await text(page, '#stream-state-text')) === 'live', 5000, 'live');
      assert.equal(await text(page, '#trending-empty'), 'No trending data yet');
      assert.equal(await page.isVisible('#trending-windows'), false);

      // A 5-minute window closes: its products, most clicked first, with
      // the window's time range; a button id made of markup stays text.
      const five = trendingRecord('5m', 1, [
        ['areopress-coffee-maker', 7],
        [XSS, 4],
        ["the-camper's-kit", 2],
      ]);
      const sentAt = Date.now();
      stream.emitTrending(five);
      await waitFor(async () => (await texts(page, '#trending-5m-list .trending-name')).length === 3, 2000, 'the 5-minute window');
      assert.ok(Date.now() - sentAt < 2000);
      assert.equal(await page.isVisible('#trending-empty'), false);
      assert.deepEqual(await texts(page, '#trending-5m-list .trending-name'), ['areopress-coffee-maker', XSS, "the-camper's-kit"]);
      assert.deepEqual(await texts(page, '#trending-5m-list .trending-count'), ['7', '4', '2']);
      assert.deepEqual(await texts(page, '#trending-5m-list .trending-rank'), ['1', '2', '3']);
      assert.equal(await page.locator('#trending-5m-list img').count(), 0, 'markup from a record became an element');
      const range = await page.$$eval('#trending-5m-range time', (times) => times.map((t) => t.dateTime));
      assert.deepEqual(range, [new Date(five.window.start).toISOString(), new Date(five.window.end).toISOString()]);
      assert.match(await text(page, '#trending-5m-range'), /· 13 clicks$/);
      // The bars compare the products with the most clicked one.
      const widths = await page.$$eval('#trending-5m-list .trending-fill', (fills) => fills.map((f) => parseFloat(f.style.width)));
      for (const [i, share] of [1, 4 / 7, 2 / 7].entries()) assert.ok(Math.abs(widths[i] - share * 100) < 0.01, `${widths}`);
      assert.match(await text(page, '#trending-1m-range'), /Waiting for the first 1-minute window/);

      // The 1-minute window, listed apart.
      stream.emitTrending(trendingRecord('1m', 1, [['bunum-wo-aa,-papua-new-guinea', 3]]));
      await waitFor(async () => (await texts(page, '#trending-1m-list .trending-name')).length === 1, 2000, 'the 1-minute window');
      assert.deepEqual(await texts(page, '#trending-1m-list .trending-name'), ['bunum-wo-aa,-papua-new-guinea']);
      assert.deepEqual(await texts(page, '#trending-5m-list .trending-count'), ['7', '4', '2']);

      // Reconnecting replays both records: nothing is listed twice.
      stream.dropClients();
      await waitFor(() => stream.clientCount() === 1, 8000, 'reconnect');
      await waitFor(async () => (await text(page, '#stream-state-text')) === 'live', 5000, 'live again');
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(await texts(page, '#trending-5m-list .trending-name'), ['areopress-coffee-maker', XSS, "the-camper's-kit"]);
      assert.deepEqual(await texts(page, '#trending-1m-list .trending-name'), ['bunum-wo-aa,-papua-new-guinea']);

      // A window older than the one shown changes nothing; the next one
      // replaces it (equal clicks: by button id).
      stream.emitTrending(trendingRecord('5m', 3, [['stale-product', 99]]));
      const next = trendingRecord('5m', 0, [['mug', 5], ['kit', 5]]);
      stream.emitTrending(next);
      await waitFor(async () => (await texts(page, '#trending-5m-list .trending-name'))[0] === 'kit', 2000, 'the next window');
      assert.deepEqual(await texts(page, '#trending-5m-list .trending-name'), ['kit', 'mug']);
      assert.match(await text(page, '#trending-5m-range'), /· 10 clicks$/, 'complete: no note');

      // Clicks that came after the window closed: the same window again,
      // with its late clicks, says it is incomplete; a count that is an
      // upper bound (the window held more products than edm-trending
      // keeps) says so.
      stream.emitTrending({ ...next, late_clicks: 2, top: [{ button_id: 'kit', clicks: 5, overcount: 1 }, { button_id: 'mug', clicks: 5 }] });
      await waitFor(async () => /incomplete/.test(await text(page, '#trending-5m-range')), 2000, 'the late clicks');
      assert.match(await text(page, '#trending-5m-range'), /· 10 clicks · incomplete: 2 late clicks not counted$/);
      assert.deepEqual(await texts(page, '#trending-5m-list .trending-count'), ['≤ 5', '5']);
      // The same record again, or an earlier one of the window, changes nothing.
      stream.emitTrending(next);
      await new Promise((r) => setTimeout(r, 500));
      assert.match(await text(page, '#trending-5m-range'), /incomplete: 2 late clicks/);

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
