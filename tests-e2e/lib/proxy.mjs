// Debian's nginx as the router in front of several instances: every HTTP
// request (and every WebSocket upgrade) goes to the next instance in turn,
// with no session affinity, as Heroku's router does by default. One process
// (master_process off), in its own folder, stopped with the test.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './services.mjs';

export const NGINX = '/usr/sbin/nginx';

export function hasNginx() {
  return existsSync(NGINX);
}

/**
 * Starts nginx in front of `ports`; returns { url, stop() }. With
 * `forwarding`, it also says what Heroku's router says: the client's address
 * appended to X-Forwarded-For, and X-Forwarded-Proto: https (users reach
 * Heroku apps over https).
 */
export async function startRoundRobinProxy(ports, { forwarding = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'edm-e2e-nginx-'));
  const port = await freePort();
  const servers = ports.map((p) => `    server 127.0.0.1:${p};`).join('\n');
  writeFileSync(
    join(dir, 'nginx.conf'),
    `master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  upstream instances {
${servers}
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://instances;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 3600s;${
        forwarding
          ? `
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;`
          : ''
      }
    }
  }
}
`,
  );
  const child = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i++) {
    try {
      await fetch(url);
      break;
    } catch (_) {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    stop() {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
