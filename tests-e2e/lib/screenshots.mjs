// Where the tests write screenshots for people to look at: docs/screenshots/
// (or EDM_SCREENSHOT_DIR).
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir =
  process.env.EDM_SCREENSHOT_DIR ||
  resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'screenshots');

export function screenshotPath(name) {
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}
