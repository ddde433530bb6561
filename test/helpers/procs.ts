// Process helpers for tests: free ports, descendants, waiting for a port to accept.
import { readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** pid and every descendant, from /proc/<pid>/task/<tid>/children. */
export function descendants(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      const tasks = readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, 'utf8').trim();
      for (const c of tasks.split(/\s+/).filter(Boolean)) out.push(Number(c));
    } catch {
      // gone
    }
  }
  return out;
}

export async function waitForPort(port: number, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
