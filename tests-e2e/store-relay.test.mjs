// The store against the real edm-relay and Kafka: the browser's CORS
// preflight passes, and the relay accepts (Kafka acknowledges) the page load
// and every click exactly as the store sends them. Needs `./edm infra up`
// and the edm-relay binary; skipped, with the reason, without them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openBrowser } from './lib/browser.mjs';
import { waitFor } from './lib/fakes.mjs';
import { freshPrefixWithTopics, infraEnv } from './lib/infra.mjs';
import { freePort, hasBinary, startService } from './lib/services.mjs';

const PRODUCTS = ['areopress-coffee-maker', "the-camper's-kit", 'bunum-wo-aa,-papua-new-guinea', 'msr-reactor-2.5l-stove-system'];
const byId = (id) => `[id="${id.replace(/"/g, '\\"')}"]`;

const { KAFKA_URL } = infraEnv();
const missing = [!hasBinary('edm-relay') && 'binary edm-relay', !KAFKA_URL && 'KAFKA_URL'].filter(Boolean);

test(
  'the real relay accepts the page load and every click the store sends',
  { skip: missing.length > 0 ? `needs ${missing.join(', ')}` : false, timeout: 120000 },
  async () => {
    const prefix = await freshPrefixWithTopics();
    const storePort = await freePort();
    const relay = await startService('edm-relay', {
      KAFKA_URL,
      KAFKA_PREFIX: prefix,
      EDM_ALLOWED_ORIGINS: `http://127.0.0.1:${storePort}`,
    });
    const store = await startService('edm-ui', { EDM_RELAY_URL: relay.url }, { port: storePort });
    const browser = await openBrowser();
    try {
      const page = await browser.newPage();
      const answers = [];
      page.on('response', (response) => {
        if (response.url().startsWith(relay.url) && response.request().method() === 'POST') {
          answers.push({ path: new URL(response.url()).pathname, status: response.status(), body: response.request().postData() });
        }
      });
      await page.goto(store.url);
      for (const id of PRODUCTS) await page.click(byId(id));
      await waitFor(() => answers.length >= 1 + PRODUCTS.length, 15000, 'relay answers');
      assert.ok(
        answers.every((a) => a.status >= 200 && a.status < 300),
        `the relay refused something: ${JSON.stringify(answers, null, 1)}`,
      );
      assert.equal(answers.filter((a) => a.path === '/producePageLoad').length, 1);
      const clicked = answers
        .filter((a) => a.path === '/produceClickMessage')
        .map((a) => JSON.parse(a.body).properties.button_id);
      assert.deepEqual(clicked, PRODUCTS);
      assert.deepEqual(browser.problems.pageErrors, []);
    } finally {
      await browser.close();
      await store.stop();
      await relay.stop();
    }
  },
);
