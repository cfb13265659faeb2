// Keeps ../static/vendor/ honest: the browser libraries the dashboard
// serves are committed there (the Heroku Rust buildpack has no Node), and
// this script proves they are byte-identical to the packages locked in
// package-lock.json.
//
//   node check-vendor.mjs            npm ci, then compare (exit 1 on any difference)
//   node check-vendor.mjs --update   npm ci, then copy the files into ../static/vendor/
//
// Nothing here is downloaded from anywhere but the npm registry, through npm.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const vendorDir = join(here, '..', 'static', 'vendor');

/** Each committed vendor file and the package file it must equal. */
export const VENDOR_FILES = [
  { vendor: 'chart.umd.min.js', package: 'chart.js', file: 'dist/chart.umd.min.js' },
  { vendor: 'chart.js.LICENSE.md', package: 'chart.js', file: 'LICENSE.md' },
  { vendor: 'socket.io.min.js', package: 'socket.io-client', file: 'dist/socket.io.min.js' },
  { vendor: 'socket.io-client.LICENSE', package: 'socket.io-client', file: 'LICENSE' },
];

const update = process.argv.includes('--update');

execFileSync('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], {
  cwd: here,
  stdio: ['ignore', 'inherit', 'inherit'],
});

const lock = JSON.parse(readFileSync(join(here, 'package-lock.json'), 'utf8'));
let differences = 0;
for (const entry of VENDOR_FILES) {
  const locked = lock.packages[`node_modules/${entry.package}`];
  const source = join(here, 'node_modules', entry.package, entry.file);
  const target = join(vendorDir, entry.vendor);
  if (update) {
    copyFileSync(source, target);
    console.log(`copied ${entry.package}@${locked.version}/${entry.file} -> static/vendor/${entry.vendor}`);
  } else if (!existsSync(target)) {
    differences += 1;
    console.error(`MISSING static/vendor/${entry.vendor} (expected ${entry.package}@${locked.version}/${entry.file})`);
  } else if (!readFileSync(source).equals(readFileSync(target))) {
    differences += 1;
    console.error(`DIFFERS static/vendor/${entry.vendor} != ${entry.package}@${locked.version}/${entry.file}`);
  } else {
    console.log(`ok static/vendor/${entry.vendor} == ${entry.package}@${locked.version}/${entry.file}`);
  }
}
if (differences > 0) {
  console.error(`${differences} vendor file(s) do not match package-lock.json; run: node check-vendor.mjs --update`);
  process.exit(1);
}
