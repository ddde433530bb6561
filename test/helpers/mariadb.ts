// A throwaway MariaDB server for tests: a fresh data directory (mariadb-install-db), mariadbd on a
// loopback port and a unix socket in that directory, removed again on stop().
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './procs.js';
import { type Ran, run } from './spawn.js';
import type { TlsCertificate } from './tls-cert.js';

export interface MariaDb {
  dir: string;
  port: number;
  socket: string;
  pid: number;
  child: ChildProcess;
  /** Runs SQL as root over the unix socket (untraced when the agent is scoped elsewhere). */
  rootSql(sql: string): Promise<Ran>;
  stop(): Promise<void>;
}

export async function startMariaDb(opts: { tls?: TlsCertificate } = {}): Promise<MariaDb> {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-mariadb-'));
  const data = join(dir, 'data');
  const socket = join(dir, 'sock');
  const install = await run('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'], { timeoutMs: 60_000 });
  if (install.code !== 0) throw new Error(`mariadb-install-db failed: ${install.stderr}`);
  const port = await freePort();
  // Small buffers: the machine is shared. No binary log; TLS only when a certificate is given.
  const tls = opts.tls !== undefined ? [`--ssl-cert=${opts.tls.certFile}`, `--ssl-key=${opts.tls.keyFile}`] : [];
  const child = spawn('mariadbd', [
    '--no-defaults', `--datadir=${data}`, `--socket=${socket}`, `--port=${port}`, '--bind-address=127.0.0.1', '--user=root',
    `--pid-file=${join(dir, 'pid')}`, `--log-error=${join(dir, 'error.log')}`, '--skip-log-bin', '--innodb-buffer-pool-size=16M',
    '--performance-schema=OFF', '--skip-name-resolve', ...tls, // --no-defaults must stay first
  ], { stdio: 'ignore' });
  const exited = once(child, 'exit');
  try {
    await Promise.race([waitForPort(port, 30_000), exited.then(() => Promise.reject(new Error('mariadbd exited at start')))]);
  } catch (e) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    dir,
    port,
    socket,
    pid: child.pid!,
    child,
    rootSql: (sql) => run('mariadb', ['--no-defaults', '-S', socket, '-uroot', '--batch', '-e', sql]),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
