// A throwaway redis-server for tests: loopback, a free port, no persistence, a password.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { freePort, waitForPort } from './procs.js';
import type { Ran } from './spawn.js';
import type { TlsCertificate } from './tls-cert.js';

export interface RedisServer {
  child: ChildProcess;
  pid: number;
  port: number;
  password: string;
  /**
   * redis-cli against this server, authenticated with --pass (the command line is exported as
   * process.command_args with the values of password-like flags redacted; "-a" is not one).
   */
  cli(args: string[], opts?: { input?: string; resp3?: boolean }): Promise<Ran>;
  /** redis://default:<password>@127.0.0.1:<port>, for programs that take a URI (redis-benchmark -u). */
  uri: string;
  stop(): Promise<void>;
}

export async function startRedisServer(password: string, opts: { tls?: TlsCertificate } = {}): Promise<RedisServer> {
  const port = await freePort();
  // With TLS the port speaks only TLS; the self-signed certificate is its own CA; clients need none.
  const listen = opts.tls === undefined ? ['--port', String(port)] : ['--port', '0', '--tls-port', String(port), '--tls-cert-file', opts.tls.certFile,
    '--tls-key-file', opts.tls.keyFile, '--tls-ca-cert-file', opts.tls.certFile, '--tls-auth-clients', 'no'];
  const child = spawn('redis-server', [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', password], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`redis-server exited (${String(code)}) before listening on ${port}`);
  });
  await Promise.race([waitForPort(port), exited]);
  exited.catch(() => undefined);
  return {
    child,
    pid: child.pid!,
    port,
    password,
    uri: `redis://default:${password}@127.0.0.1:${port}`,
    cli: (args, o = {}) => cli(['-p', String(port), ...(opts.tls !== undefined ? ['--tls', '--cacert', opts.tls.certFile] : []),
      '--pass', password, '--no-auth-warning', ...(o.resp3 ? ['-3'] : []), ...args], o.input),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** redis-cli with `input` on its stdin (none: stdin closed), its output collected. */
async function cli(args: string[], input?: string): Promise<Ran> {
  const child = spawn('redis-cli', args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  if (input !== undefined) {
    child.stdin!.on('error', () => undefined); // it may exit before reading everything
    child.stdin!.end(input);
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  return { code: code as number | null, stdout, stderr };
}
