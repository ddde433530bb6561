// A real nginx for tests: its own config, prefix and port, one worker, stopped on teardown.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { descendants, freePort, waitForPort } from './procs.js';
import type { TlsCertificate } from './tls-cert.js';

export interface Nginx {
  port: number;
  /** Master and worker pids. */
  pids: number[];
  root: string;
  stop(): Promise<void>;
}

export interface NginxOptions {
  /** Extra `location` blocks inside the server block. */
  locations?: string;
  /** HTTP/2 over cleartext with prior knowledge (h2c: `listen … http2` without ssl). */
  http2?: boolean;
  /** Extra directives in the http block (upstreams...). */
  http?: string;
  /** HTTPS with this certificate (HTTP/2 too when `http2` is set: negotiated by ALPN). */
  tls?: TlsCertificate;
}

export async function startNginx(opts: NginxOptions = {}): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-nginx-'));
  chmodSync(dir, 0o755); // workers run as nobody
  const root = join(dir, 'www');
  mkdirSync(root);
  mkdirSync(join(dir, 'tmp'));
  writeFileSync(join(root, 'index.html'), '<h1>lantern</h1>\n');
  const port = await freePort();
  const conf = `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 100000;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  ${opts.http ?? ''}
  server {
    listen 127.0.0.1:${port}${opts.tls !== undefined ? ' ssl' : ''}${opts.http2 === true ? ' http2' : ''};
    ${opts.tls !== undefined ? `ssl_certificate ${opts.tls.certFile}; ssl_certificate_key ${opts.tls.keyFile}; ssl_protocols TLSv1.2 TLSv1.3;` : ''}
    root ${root};
    location = /status { return 200 "ok\\n"; }
    ${opts.locations ?? ''}
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child: ChildProcess = spawn('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await waitForPort(port);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`nginx did not start: ${(e as Error).message}\n${stderr}`);
  }
  // The port answers before nginx has written its pid file and before its worker exists.
  const master = child.pid!;
  const until = Date.now() + 10_000;
  while (descendants(master).length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  return {
    port,
    root,
    pids: descendants(master),
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGQUIT');
        await new Promise((r) => child.once('exit', r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** nginx's master and worker pids, once the worker exists (it starts after the port answers). */
export async function nginxWithWorkerPids(n: Nginx): Promise<number[]> {
  const master = n.pids[0];
  if (master === undefined) throw new Error('nginx has no pid');
  for (let i = 0; i < 100; i++) {
    const pids = descendants(master);
    if (pids.length >= 2) return pids;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx ${master} has no worker process`);
}
