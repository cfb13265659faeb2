// The deploy rehearsal: the six apps as Heroku builds and runs them, on
// this machine. Each app is built from the committed tree the way the pinned
// Rust buildpack builds it (`./edm heroku-build`: RustConfig sourced with
// that app's config vars, its cargo flags), then the Procfile's `release`
// and `web` lines run under `sh` in the app's folder with only the
// environment Heroku gives that app: PORT, DYNO, the Kafka add-on's
// variables (`kafka+ssl://`, three PEM texts, KAFKA_PREFIX) against a broker
// shaped like a basic plan (`./edm heroku-kafka`: Kafka 3.7.1, client
// certificates, ACLs by prefix), a DATABASE_URL that requires TLS, and the
// config vars terraform/config.tf sets from topology.json. Each app sits
// behind its own router (nginx adding X-Forwarded-For and -Proto, as
// Heroku's does), and the full flow runs in Chromium against the routers.
// Then every dyno gets SIGTERM and must be gone within Heroku's 30 s.
//
// Figures (build seconds per app, seconds from `release` to `/ready`) are
// printed as test diagnostics. Skipped, with the reason, without `./edm
// infra up` (Postgres, certificates, the 3.7.1 jars) or nginx.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openBrowser } from './lib/browser.mjs';
import { clicksReachDashboardAndStats } from './lib/flow.mjs';
import { infraEnv } from './lib/infra.mjs';
import { hasNginx, startRoundRobinProxy } from './lib/proxy.mjs';
import { freePort } from './lib/services.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);
const topology = JSON.parse(readFileSync(join(repo, 'topology.json'), 'utf8'));
const infra = infraEnv(['DATABASE_URL', 'EDM_TEST_CERTS_DIR', 'EDM_TEST_HEROKU_KAFKA_LIBS']);
const missing = [
  ...Object.entries(infra)
    .filter(([, value]) => !value)
    .map(([name]) => name),
  ...(hasNginx() ? [] : ['nginx']),
];

/** The Procfile's process types, as Heroku reads them. */
function procfile() {
  const lines = readFileSync(join(repo, 'Procfile'), 'utf8').split('\n');
  return Object.fromEntries(
    lines.map((line) => /^([A-Za-z0-9_-]+):\s*(.+)$/.exec(line)).filter(Boolean).map((m) => [m[1], m[2]]),
  );
}

/** A Heroku-shaped broker on free ports, in its own state folder. */
async function herokuKafka(dir) {
  const env = {
    ...process.env,
    EDM_STATE_DIR: join(dir, 'kafka-state'),
    EDM_CERTS: infra.EDM_TEST_CERTS_DIR,
    EDM_HEROKU_KAFKA_LIBS: infra.EDM_TEST_HEROKU_KAFKA_LIBS,
    EDM_KAFKA_PORT: String(await freePort()),
    EDM_KAFKA_TLS_PORT: String(await freePort()),
    EDM_KAFKA_CONTROLLER_PORT: String(await freePort()),
    EDM_KAFKA_HEAP: '256m',
  };
  const edm = (...args) => run(join(repo, 'edm'), ['heroku-kafka', ...args], { env, timeout: 180000 });
  await edm('up');
  const pem = (file) => readFileSync(join(infra.EDM_TEST_CERTS_DIR, file), 'utf8');
  return {
    provision: (prefix) => edm('provision', prefix),
    addonVars: (prefix) => ({
      KAFKA_URL: `kafka+ssl://127.0.0.1:${env.EDM_KAFKA_TLS_PORT}`,
      KAFKA_TRUSTED_CERT: pem('ca.pem'),
      KAFKA_CLIENT_CERT: pem('client.pem'),
      KAFKA_CLIENT_CERT_KEY: pem('client.key'),
      KAFKA_PREFIX: prefix,
    }),
    stop: () => edm('kill').catch(() => {}),
  };
}

/** A database of its own on the test Postgres; its URL says nothing of TLS, as Heroku's does not. */
async function herokuPostgres() {
  const name = `rehearsal_${randomBytes(4).toString('hex')}`;
  const admin = new URL(infra.DATABASE_URL);
  admin.pathname = '/postgres';
  const psql = (sql) => run('psql', [admin.href, '-qtAc', sql], { timeout: 60000 });
  await psql(`CREATE DATABASE ${name}`);
  const url = new URL(infra.DATABASE_URL);
  url.pathname = `/${name}`;
  url.search = '';
  return { url: url.href, drop: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {}) };
}

/** Each app's config vars as terraform/config.tf sets them, plus its add-ons' vars. */
function configVars(service, origin, addons) {
  const vars = { EDM_SERVICE: service.name, EDM_TRUSTED_PROXY_HOPS: '1' };
  for (const [variable, target] of Object.entries(service.calls || {})) vars[variable] = origin[target];
  const pages = service.called_by_pages_of || [];
  if (pages.length > 0) vars.EDM_ALLOWED_ORIGINS = pages.map((page) => origin[page]).join(',');
  if (service.kafka) Object.assign(vars, addons.kafka);
  if (service.database) vars.DATABASE_URL = addons.databaseUrl;
  return vars;
}

/** Runs a Procfile line under sh in the app's folder with exactly `env` (and a PATH). */
function dyno(appDir, line, env, logFile) {
  const child = spawn('sh', ['-c', line], {
    cwd: appDir,
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: appDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolveExit) => child.once('exit', (code, signal) => resolveExit({ code, signal })));
  return {
    exited,
    output: () => output,
    save: () => writeFileSync(logFile, output),
    /** Heroku's stop: SIGTERM, SIGKILL after 30 s. Resolves to how it ended and how long it took. */
    async terminate() {
      if (child.exitCode !== null || child.signalCode !== null) return { ...(await exited), seconds: 0 };
      const started = Date.now();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
      const end = await exited;
      clearTimeout(timer);
      return { ...end, seconds: (Date.now() - started) / 1000 };
    },
  };
}

async function waitReady(url, process, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(`${url}/ready`);
      if (response.status === 200) return;
    } catch (_) {
      // not listening yet
    }
    const ended = await Promise.race([process.exited, new Promise((r) => setTimeout(() => r(null), 200))]);
    if (ended) throw new Error(`the web dyno exited (${JSON.stringify(ended)}):\n${process.output()}`);
    if (Date.now() > deadline) throw new Error(`not ready within ${timeoutMs} ms:\n${process.output()}`);
  }
}

test(
  'the six apps built and started as Heroku does serve the full flow through routers and an authorizing Kafka 3.7.1',
  { skip: missing.length > 0 ? `needs ${missing.join(', ')}` : false, timeout: 45 * 60 * 1000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'edm-rehearsal-'));
    const prefix = `rehearsal-${randomBytes(3).toString('hex')}.`;
    const processes = procfile();
    const services = topology.services;
    const cleanups = [];
    const figures = {};
    try {
      const kafka = await herokuKafka(dir);
      cleanups.push(kafka.stop);
      await kafka.provision(prefix);
      const database = await herokuPostgres();
      cleanups.push(database.drop);

      // One web dyno per app, each behind its own router; the URLs the apps
      // are wired with are the routers'.
      const dynoPort = {};
      const routers = {};
      for (const service of services) {
        dynoPort[service.name] = await freePort();
        routers[service.name] = await startRoundRobinProxy([dynoPort[service.name]], { forwarding: true });
        cleanups.push(routers[service.name].stop);
      }
      const origin = Object.fromEntries(services.map((s) => [s.name, routers[s.name].url]));
      const addons = { kafka: kafka.addonVars(prefix), databaseUrl: database.url };

      // Builds, one app after the other (this machine has two cores).
      const appDir = {};
      const vars = {};
      for (const service of services) {
        vars[service.name] = configVars(service, origin, addons);
        const envDir = join(dir, 'env', service.name);
        mkdirSync(envDir, { recursive: true });
        for (const [name, value] of Object.entries(vars[service.name])) writeFileSync(join(envDir, name), value);
        appDir[service.name] = join(dir, 'app', service.name);
        const started = Date.now();
        await run(join(repo, 'edm'), ['heroku-build', appDir[service.name], envDir], {
          timeout: 30 * 60 * 1000,
          maxBuffer: 64 * 1024 * 1024,
        });
        figures[service.name] = { buildSeconds: Math.round((Date.now() - started) / 1000) };
        // The app's build made its own binary and no other service's.
        const built = readdirSync(join(appDir[service.name], 'target', 'release'));
        assert.ok(built.includes(service.name), `${service.name}'s build made ${built.join(', ')}`);
        const others = services.map((s) => s.name).filter((name) => name !== service.name && built.includes(name));
        assert.deepEqual(others, [], `${service.name}'s build compiled only its own binary`);
      }

      // Releases: every app runs `release`, then its web dyno; all at once,
      // as independent apps do.
      const logs = join(dir, 'logs');
      mkdirSync(logs);
      const webs = {};
      cleanups.push(async () => {
        for (const web of Object.values(webs)) await web.terminate();
      });
      await Promise.all(
        services.map(async (service) => {
          const name = service.name;
          const started = Date.now();
          const release = dyno(appDir[name], processes.release, { ...vars[name], DYNO: 'release.1' }, join(logs, `${name}-release.log`));
          const ended = await release.exited;
          release.save();
          assert.deepEqual(ended, { code: 0, signal: null }, `${name}'s release phase:\n${release.output()}`);
          const web = dyno(
            appDir[name],
            processes.web,
            { ...vars[name], DYNO: 'web.1', PORT: String(dynoPort[name]) },
            join(logs, `${name}-web.log`),
          );
          webs[name] = web;
          await waitReady(routers[name].url, web, 90000);
          figures[name].releaseToReadySeconds = (Date.now() - started) / 1000;
        }),
      );
      const migrated = readFileSync(join(logs, 'edm-stats-release.log'), 'utf8');
      assert.ok(!/no DATABASE_URL/.test(migrated), `stats migrated in its release phase:\n${migrated}`);

      const browser = await openBrowser();
      try {
        await clicksReachDashboardAndStats(browser, {
          storeUrl: origin['edm-ui'],
          dashboardUrl: origin['edm-dashboard'],
          statsUrl: origin['edm-stats'],
        });
      } finally {
        await browser.close();
      }

      // A deploy's end for these dynos: SIGTERM, gone within 30 s, exit 0.
      for (const service of services) {
        const end = await webs[service.name].terminate();
        webs[service.name].save();
        assert.deepEqual(
          { code: end.code, signal: end.signal },
          { code: 0, signal: null },
          `${service.name} stopped cleanly on SIGTERM:\n${webs[service.name].output()}`,
        );
        figures[service.name].stopSeconds = end.seconds;
      }
      for (const [name, figure] of Object.entries(figures)) {
        t.diagnostic(
          `${name}: build ${figure.buildSeconds} s, release to /ready ${figure.releaseToReadySeconds.toFixed(1)} s, SIGTERM to exit ${figure.stopSeconds.toFixed(1)} s`,
        );
      }
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup();
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    }
  },
);
