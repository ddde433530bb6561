// A real dnsmasq on loopback for tests: authoritative answers for a test zone, nothing forwarded.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

export interface Dnsmasq {
  address: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** `records`: name → IPv4 answer, '' for NXDOMAIN. Other names are REFUSED (--no-resolv, nothing upstream). */
export async function startDnsmasq(address: string, port: number, records: Record<string, string>): Promise<Dnsmasq> {
  const args = ['--no-daemon', '--no-resolv', '--no-hosts', '--bind-interfaces', `--listen-address=${address}`, `--port=${port}`,
    '--user=root', '--pid-file=', '--log-facility=-', '--cache-size=0', ...Object.entries(records).map(([n, ip]) => `--address=/${n}/${ip}`)];
  const child: ChildProcess = spawn('dnsmasq', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  // dnsmasq says "started" once bound.
  const until = Date.now() + 10_000;
  while (!stderr.includes('started') && child.exitCode === null && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
  if (!stderr.includes('started')) {
    child.kill('SIGKILL');
    throw new Error(`dnsmasq did not start: ${stderr}`);
  }
  return {
    address, port, pid: child.pid!,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
