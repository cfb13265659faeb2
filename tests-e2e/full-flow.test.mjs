// The whole system in a browser: store -> edm-relay -> Kafka -> edm-stream
// -> dashboard, Kafka -> edm-trending -> counts -> edm-stream -> dashboard,
// and Kafka -> edm-stats -> stats API. Needs the real Kafka
// and Postgres (`./edm infra up`) and every service's binary; skipped, with
// the reason, when something is missing.
import { test } from 'node:test';
import { openBrowser } from './lib/browser.mjs';
import { clicksReachDashboardAndStats } from './lib/flow.mjs';
import { freshPrefixWithTopics, infraEnv } from './lib/infra.mjs';
import { hasBinary, serviceSet } from './lib/services.mjs';
import { screenshotPath } from './lib/screenshots.mjs';

const SERVICES = ['edm-relay', 'edm-stream', 'edm-stats', 'edm-trending', 'edm-ui', 'edm-dashboard'];

const infra = infraEnv();
const missing = [
  ...SERVICES.filter((name) => !hasBinary(name)).map((name) => `binary ${name}`),
  ...Object.entries(infra)
    .filter(([, value]) => !value)
    .map(([name]) => name),
];

test(
  'three clicks in the store show on the dashboard within 2 s, its totals equal the stats, raised by exactly three',
  { skip: missing.length > 0 ? `needs ${missing.join(', ')}` : false, timeout: 120000 },
  async () => {
    const prefix = await freshPrefixWithTopics();
    const services = await serviceSet(SERVICES, (url) => ({
      KAFKA_URL: infra.KAFKA_URL,
      KAFKA_PREFIX: prefix,
      EDM_ALLOWED_ORIGINS: `${url('edm-ui')},${url('edm-dashboard')}`,
    }));
    const { url, start } = services;
    const browser = await openBrowser();
    try {
      await start('edm-relay');
      await start('edm-stream');
      await start('edm-stats', { DATABASE_URL: infra.DATABASE_URL });
      await start('edm-trending');
      const store = await start('edm-ui', { EDM_RELAY_URL: url('edm-relay') });
      const dashboard = await start('edm-dashboard', {
        EDM_STREAM_URL: url('edm-stream'),
        EDM_STATS_URL: url('edm-stats'),
      });
      const { storePage, dashboardPage } = await clicksReachDashboardAndStats(browser, {
        storeUrl: store.url,
        dashboardUrl: dashboard.url,
        statsUrl: url('edm-stats'),
      });

      await storePage.screenshot({ path: screenshotPath('full-store.png') });
      await dashboardPage.waitForTimeout(2000);
      await dashboardPage.screenshot({ path: screenshotPath('full-dashboard.png'), fullPage: true });
    } finally {
      await browser.close();
      await services.stopAll();
    }
  },
);
