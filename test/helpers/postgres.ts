// A throwaway PostgreSQL 15 server for protocol tests: a temporary cluster owned by the `postgres`
// user (the server refuses to run as root), loopback TCP with password authentication, trust on its
// private Unix socket for setup, no fsync. Debian's packages: postgresql (server), postgresql-client.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './procs.js';
import { type Ran, run } from './spawn.js';
import type { TlsCertificate } from './tls-cert.js';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface PgUser {
  name: string;
  password: string;
  /** pg_hba method for this user over TCP: scram-sha-256 (default) or password (cleartext). */
  method?: 'scram-sha-256' | 'md5' | 'password';
}

export interface Postgres {
  port: number;
  /** Directory of the Unix socket (and the cluster). */
  dir: string;
  /** The postmaster's pid. */
  pid: number;
  /** Runs SQL as the superuser over the private Unix socket (trust). */
  admin(sql: string, db?: string): Promise<Ran>;
  stop(): Promise<void>;
}

function postgresIds(): { uid: number; gid: number } {
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
  };
}

export async function startPostgres(users: PgUser[], databases: Array<{ name: string; owner: string }>, opts: { tls?: TlsCertificate } = {}): Promise<Postgres> {
  const { uid, gid } = postgresIds();
  const dir = mkdtempSync(join(tmpdir(), 'lantern-pg-'));
  chmodSync(dir, 0o755);
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const initdb = await run('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'initdb'), '-D', data, '-U', 'postgres', '-E', 'UTF8',
    '--locale=C', '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync', '--no-instructions'], { timeoutMs: 60_000 });
  if (initdb.code !== 0) throw new Error(`initdb failed: ${initdb.stderr}`);
  // Per-user methods first: pg_hba.conf is matched top to bottom.
  const hba = ['local all all trust',
    ...users.map((u) => `host all ${u.name} 127.0.0.1/32 ${u.method ?? 'scram-sha-256'}`),
    'host all all 127.0.0.1/32 scram-sha-256', ''].join('\n');
  writeFileSync(join(data, 'pg_hba.conf'), hba);
  chownSync(join(data, 'pg_hba.conf'), uid, gid);

  // The server insists its key belongs to it and is readable by no one else.
  const ssl = ['-c', 'ssl=off'];
  if (opts.tls !== undefined) {
    for (const [name, pem] of [['server.crt', opts.tls.cert], ['server.key', opts.tls.key]] as const) {
      writeFileSync(join(data, name), pem, { mode: 0o600 });
      chownSync(join(data, name), uid, gid);
    }
    ssl.splice(0, 2, '-c', 'ssl=on', '-c', 'ssl_cert_file=server.crt', '-c', 'ssl_key_file=server.key');
  }
  const port = await freePort();
  const child: ChildProcess = spawn('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'postgres'), '-D', data, '-p', String(port), '-k', dir,
    '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
    ...ssl, '-c', 'shared_buffers=16MB', '-c', 'max_connections=20', '-c', 'autovacuum=off', '-c', 'log_min_messages=fatal'],
  { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));

  const psqlAdmin = (sql: string, db = 'postgres'): Promise<Ran> =>
    run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', dir, '-p', String(port), '-U', 'postgres', '-d', db, '-c', sql]);
  let postmaster = 0;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      // runuser does not pass SIGINT on: signal the postmaster itself (SIGINT = fast shutdown,
      // SIGQUIT = immediate); runuser exits with it.
      const exited = once(child, 'exit');
      const signal = (sig: NodeJS.Signals): void => {
        try {
          if (postmaster > 0) process.kill(postmaster, sig);
          else child.kill('SIGKILL');
        } catch {
          // already gone
        }
      };
      signal('SIGINT');
      const quit = setTimeout(() => signal('SIGQUIT'), 10_000);
      const kill = setTimeout(() => (signal('SIGKILL'), child.kill('SIGKILL')), 15_000);
      await exited;
      clearTimeout(quit);
      clearTimeout(kill);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const until = Date.now() + 30_000;
  for (;;) {
    const r = await run(join(PG_BIN, 'pg_isready'), ['-q', '-h', dir, '-p', String(port)]);
    if (r.code === 0) break;
    if (child.exitCode !== null || Date.now() > until) {
      await stop();
      throw new Error(`postgres did not start: ${stderr}`);
    }
    await new Promise((r2) => setTimeout(r2, 100));
  }
  try {
    postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    for (const u of users) {
      const r = await psqlAdmin(`CREATE ROLE ${u.name} LOGIN PASSWORD '${u.password.replaceAll("'", "''")}'`);
      if (r.code !== 0) throw new Error(`create role: ${r.stderr}`);
    }
    for (const d of databases) {
      const r = await psqlAdmin(`CREATE DATABASE ${d.name} OWNER ${d.owner}`);
      if (r.code !== 0) throw new Error(`create database: ${r.stderr}`);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { port, dir, pid: postmaster, admin: psqlAdmin, stop };
}
