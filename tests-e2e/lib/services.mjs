// Starts the project's own services (the binaries cargo built) on free
// ports through edm-tool start, the one launcher, and stops them afterwards.
// Binaries come from EDM_BIN_DIR, else $CARGO_TARGET_DIR/debug, else
// ../target/debug.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const BIN_DIR =
  process.env.EDM_BIN_DIR ||
  join(process.env.CARGO_TARGET_DIR ? resolve(repo, process.env.CARGO_TARGET_DIR) : join(repo, 'target'), 'debug');

export function binaryPath(name) {
  return join(BIN_DIR, name);
}

export function hasBinary(name) {
  return existsSync(binaryPath(name));
}

/** A TCP port nothing listens on right now. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** Whether process `pid` runs (a zombie, waiting for whoever adopted it, has exited). */
function running(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch (_) {
    return false;
  }
}

async function exitOf(pid, withinMs) {
  const deadline = Date.now() + withinMs;
  while (running(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return !running(pid);
}

/**
 * Runs `name` with `env` (plus PORT: `port`, or a free one, and RUST_LOG)
 * through `edm-tool start`, the project's one launcher: nothing else of
 * this process's environment, output to a log file, started once GET
 * /ready answers 200.
 * Returns { url, port, stop(), kill(), output() }.
 */
export async function startService(name, env = {}, { port: chosenPort } = {}) {
  if (!hasBinary(name)) throw new Error(`${binaryPath(name)} is missing: run cargo build -p ${name}`);
  if (!hasBinary('edm-tool')) throw new Error(`${binaryPath('edm-tool')} is missing: run cargo build -p edm-tool`);
  const port = chosenPort || (await freePort());
  const log = join(tmpdir(), `edm-e2e-${process.pid}-${name}-${port}.log`);
  const vars = { RUST_LOG: process.env.RUST_LOG || 'warn', ...env, PORT: String(port) };
  const args = ['start', name, BIN_DIR, log, ...Object.entries(vars).map(([k, v]) => `${k}=${v}`)];
  let started;
  try {
    started = await run(binaryPath('edm-tool'), args);
  } catch (e) {
    throw new Error(`${name} did not start:\n${e.stderr || e.message}`);
  }
  const pid = Number(started.stdout.split(' ')[0]);
  const output = () => (existsSync(log) ? readFileSync(log, 'utf8') : '');
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    output,
    /** SIGKILL: a dyno that dies without a word. */
    async kill() {
      if (running(pid)) {
        process.kill(pid, 'SIGKILL');
        await exitOf(pid, 10000);
      }
    },
    /** SIGTERM, as Heroku sends; SIGKILL after 5 s. */
    async stop() {
      if (running(pid)) {
        process.kill(pid, 'SIGTERM');
        if (!(await exitOf(pid, 5000))) {
          process.kill(pid, 'SIGKILL');
          await exitOf(pid, 10000);
        }
      }
    },
  };
}

/**
 * The services `names` of one system, each on a free port chosen ahead so
 * that they can be wired to each other: `url(name)` is any one's URL, and
 * `common(url)` the variables they all get (the Kafka prefix, the allowed
 * origins). `start(name, env)` starts one with `env` added, in the order
 * the test needs; `stopAll()` stops what started, last first.
 */
export async function serviceSet(names, common) {
  const ports = Object.fromEntries(await Promise.all(names.map(async (name) => [name, await freePort()])));
  const url = (name) => `http://127.0.0.1:${ports[name]}`;
  const started = [];
  return {
    url,
    async start(name, env = {}) {
      const service = await startService(name, { ...common(url), ...env }, { port: ports[name] });
      started.push(service);
      return service;
    },
    async stopAll() {
      for (const service of started.reverse()) await service.stop();
    },
  };
}
