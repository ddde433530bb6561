// nginx serving HTTP/2 over cleartext with prior knowledge (h2c: `listen ... http2` without ssl,
// nginx 1.22), one worker, its own prefix and port, stopped on teardown. A variant of nginx.ts,
// whose listen line is HTTP/1 only.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { descendants, freePort, waitForPort } from './procs.js';

export interface NginxH2c {
  port: number;
  /** Master and worker pids. */
  pids: number[];
  stop(): Promise<void>;
}

export async function startNginxH2c(): Promise<NginxH2c> {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-nginx-h2c-'));
  chmodSync(dir, 0o755); // workers run as nobody
  const root = join(dir, 'www');
  mkdirSync(root);
  mkdirSync(join(dir, 'tmp'));
  writeFileSync(join(root, 'index.html'), '<h1>lantern over h2c</h1>\n');
  const port = await freePort();
  const conf = `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  server {
    listen 127.0.0.1:${port} http2;
    root ${root};
    location = /status { return 200 "ok\\n"; }
    location = /teapot { return 418 "short and stout\\n"; }
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
  // With `daemon off` the child is the master (its pid file can still be empty when the port
  // already accepts); the port accepts before the worker need exist: wait for it.
  let pids = descendants(child.pid!);
  for (const until = Date.now() + 5000; pids.length < 2 && Date.now() < until; pids = descendants(child.pid!)) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    port,
    pids,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGQUIT');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
