// The store in a real browser, against a stand-in relay that records what
// the page sends (the contract of edm-relay), and with no relay at all.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openBrowser } from './lib/browser.mjs';
import { startFakeRelay, waitFor } from './lib/fakes.mjs';
import { freePort, startService } from './lib/services.mjs';
import { screenshotPath } from './lib/screenshots.mjs';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const PRODUCTS = ['areopress-coffee-maker', "the-camper's-kit", 'bunum-wo-aa,-papua-new-guinea'];

/** A CSS selector for an element id with quotes, commas and dots in it. */
const byId = (id) => `[id="${id.replace(/"/g, '\\"')}"]`;

describe('the store', () => {
  let browser;
  before(async () => {
    browser = await openBrowser();
  });
  after(async () => {
    await browser.close();
  });

  test('sends a page load, then one click per button, in the wire format, from one visitor', async () => {
    const relay = await startFakeRelay();
    const store = await startService('edm-ui', { EDM_RELAY_URL: relay.url });
    try {
      const page = await browser.newPage();
      await page.goto(store.url);
      const pageLoad = await waitFor(() => relay.requests.find((r) => r.path === '/producePageLoad'), 5000, 'page load');
      const userAgent = await page.evaluate(() => navigator.userAgent);
      assert.equal(pageLoad.headers['content-type'], 'application/json');
      assert.match(pageLoad.headers['idempotency-key'], UUID);
      assert.equal(pageLoad.headers['x-request-id'], pageLoad.headers['idempotency-key'], 'the relay logs the event id as the request id');
      assert.deepEqual(Object.keys(pageLoad.json).sort(), ['event_timestamp', 'properties', 'topic', 'uuid']);
      assert.equal(pageLoad.json.topic, 'edm-ui-pageload');
      assert.match(pageLoad.json.uuid, UUID);
      assert.ok(Math.abs(pageLoad.json.event_timestamp - Date.now()) < 10000, 'timestamp is epoch ms, now');
      assert.equal(pageLoad.json.properties.url, store.url);
      assert.equal(pageLoad.json.properties.user_agent, userAgent);
      assert.equal(typeof pageLoad.json.properties.description, 'string');

      for (const id of PRODUCTS) await page.click(byId(id));
      const clicks = await waitFor(
        () => {
          const found = relay.requests.filter((r) => r.path === '/produceClickMessage');
          return found.length >= 3 && found;
        },
        5000,
        'three clicks',
      );
      assert.deepEqual(
        clicks.map((c) => c.json.properties),
        PRODUCTS.map((id) => ({ button_id: id, description: 'button click' })),
      );
      for (const click of clicks) {
        assert.equal(click.json.topic, 'edm-ui-click');
        assert.equal(click.json.uuid, pageLoad.json.uuid, 'one visitor id per tab');
      }
      const keys = new Set([pageLoad, ...clicks].map((r) => r.headers['idempotency-key']));
      assert.equal(keys.size, 4, 'every event has its own Idempotency-Key');
      assert.equal(await page.textContent('#cart-count'), '3');

      // The visitor id survives a reload in the same tab; the cart too.
      await page.reload();
      await waitFor(() => relay.requests.filter((r) => r.path === '/producePageLoad').length === 2, 5000, 'second page load');
      const reloads = relay.requests.filter((r) => r.path === '/producePageLoad');
      assert.equal(reloads[1].json.uuid, pageLoad.json.uuid);
      assert.equal(await page.textContent('#cart-count'), '3');
      await page.close();
      assert.deepEqual(browser.problems.pageErrors, []);
      assert.deepEqual(browser.problems.cspViolations, []);
    } finally {
      await store.stop();
      await relay.close();
    }
  });

  test('retries a 503 with the same Idempotency-Key and body, and never retries a 4xx', async () => {
    const attemptsByKey = new Map();
    const relay = await startFakeRelay((request) => {
      const key = request.headers['idempotency-key'];
      const attempt = (attemptsByKey.get(key) || 0) + 1;
      attemptsByKey.set(key, attempt);
      if (request.json?.properties?.button_id === 'browse-kits') return { status: 400 };
      return attempt < 3 ? { status: 503, headers: { 'Retry-After': '0' } } : { status: 200 };
    });
    const store = await startService('edm-ui', { EDM_RELAY_URL: relay.url });
    try {
      const page = await browser.newPage();
      await page.goto(store.url);
      await page.click(byId('areopress-coffee-maker'));
      await page.click('#browse-kits');
      const click = () => relay.requests.filter((r) => r.json?.properties?.button_id === 'areopress-coffee-maker');
      await waitFor(() => click().length === 3, 8000, 'three attempts of the click');
      const attempts = click();
      assert.equal(new Set(attempts.map((r) => r.headers['idempotency-key'])).size, 1, 'one key for all attempts');
      assert.equal(new Set(attempts.map((r) => r.body)).size, 1, 'the same event each time');
      // Give any wrong extra retry time to show up.
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(click().length, 3, 'no attempt after the relay accepted');
      const refused = relay.requests.filter((r) => r.json?.properties?.button_id === 'browse-kits');
      assert.equal(refused.length, 1, 'a 4xx is not retried');
      await page.close();
    } finally {
      await store.stop();
      await relay.close();
    }
  });

  test('keeps working when the relay is down', async () => {
    const nobodyListens = `http://127.0.0.1:${await freePort()}`;
    const store = await startService('edm-ui', { EDM_RELAY_URL: nobodyListens });
    try {
      const page = await browser.newPage();
      await page.goto(store.url);
      await page.click(byId("the-camper's-kit"));
      await page.click(byId('msr-reactor-2.5l-stove-system'));
      assert.equal(await page.textContent('#cart-count'), '2');
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.click('#view-cart');
      assert.equal(await page.isVisible('#cart-panel'), true);
      const items = await page.$$eval('#cart-items li', (rows) => rows.map((row) => row.textContent));
      assert.equal(items.length, 2);
      assert.match(items[0], /The Camper's Kit/);
      assert.equal(await page.textContent('#cart-total'), '$528.95');
      await page.screenshot({ path: screenshotPath('store-cart.png') });
      await page.click('#view-cart');
      await page.screenshot({ path: screenshotPath('store.png'), fullPage: true });
      // Failed deliveries are dropped quietly: nothing thrown at the visitor.
      await new Promise((r) => setTimeout(r, 4500));
      assert.deepEqual(browser.problems.pageErrors, []);
      await page.close();
    } finally {
      await store.stop();
    }
  });
});
