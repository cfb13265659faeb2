// Debian's Chromium, headless, driven by playwright-core. No browser is ever
// downloaded: the executable is /usr/bin/chromium (apt-get install chromium),
// or EDM_CHROMIUM if set. Each browser gets a fresh, throwaway profile.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.EDM_CHROMIUM || '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * A browser context with a fresh profile. Collects what a user would notice
 * going wrong: uncaught errors, dialogs (an `alert` from injected markup),
 * and Content-Security-Policy violations.
 */
export async function openBrowser() {
  const profile = await mkdtemp(join(tmpdir(), 'edm-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 900 },
    deviceScaleFactor: 1,
  });
  const problems = { pageErrors: [], dialogs: [], cspViolations: [] };
  context.on('page', (page) => watch(page, problems));
  for (const page of context.pages()) watch(page, problems);
  return {
    context,
    problems,
    async newPage() {
      const page = await context.newPage();
      return page;
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

function watch(page, problems) {
  page.on('pageerror', (error) => problems.pageErrors.push(String(error)));
  page.on('dialog', async (dialog) => {
    problems.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    await dialog.dismiss().catch(() => {});
  });
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) problems.cspViolations.push(message.text());
  });
}
