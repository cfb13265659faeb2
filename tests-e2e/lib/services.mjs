// Starts the project's own services (the binaries cargo built) on free ports
// and stops them afterwards. Binaries come from EDM_BIN_DIR, else
// $CARGO_TARGET_DIR/debug, else ../target/debug.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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

/**
 * Runs `name` with `env` (plus PORT: `port`, or a free one) and waits until
 * GET /health answers.
 * Returns { url, port, stop(), kill(), output() }.
 */
export async function startService(name, env = {}, { healthPath = '/health', timeoutMs = 20000, port: chosenPort } = {}) {
  const path = binaryPath(name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run cargo build -p ${name}`);
  const port = chosenPort || (await freePort());
  let output = '';
  const child = spawn(path, [], {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${output}`);
    try {
      const response = await fetch(url + healthPath);
      if (response.ok) break;
    } catch (_) {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not answer ${healthPath} within ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    output: () => output,
    /** SIGKILL: a dyno that dies without a word. */
    async kill() {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
