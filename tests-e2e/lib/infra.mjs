// The real Kafka and Postgres that `./edm infra up` starts: their addresses
// come from the environment or from .edm/env, and topics for a test's own
// KAFKA_PREFIX are created with `./edm topics PREFIX` (Kafka on Heroku
// never creates topics on first write, and neither does ours).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The named variables (KAFKA_URL and DATABASE_URL unless told), null where neither source has one. */
export function infraEnv(names = ['KAFKA_URL', 'DATABASE_URL']) {
  const fromFile = {};
  const file = join(repo, '.edm', 'env');
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const match = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
      if (match) fromFile[match[1]] = match[2];
    }
  }
  const pick = (name) => process.env[name] || fromFile[name] || null;
  return Object.fromEntries(names.map((name) => [name, pick(name)]));
}

/** A fresh KAFKA_PREFIX with both topics created under it. */
export async function freshPrefixWithTopics() {
  const prefix = `e2e-${randomBytes(4).toString('hex')}.`;
  await promisify(execFile)(join(repo, 'edm'), ['topics', prefix], { cwd: repo, timeout: 120000 });
  return prefix;
}
