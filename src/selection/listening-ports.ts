// Which TCP ports processes listen on, from /proc: each network namespace's /proc/<pid>/net/tcp and
// tcp6 (proc(5); state 0A is TCP_LISTEN) give the inodes of listening sockets and their ports, and
// a process's /proc/<pid>/fd links ("socket:[<inode>]") say which of those sockets it holds. One
// read of the tables per namespace, one readdir + readlinks per process: the cost is the number of
// open descriptors, which is why the agent does it only when a rule asks about ports.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** Listening sockets of one /proc/net/tcp or tcp6 text: inode → local port. Pure. */
export function parseListeningSockets(text: string, into = new Map<string, number>()): Map<string, number> {
  for (const line of text.split('\n').slice(1)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== '0A') continue;
    const colon = f[1]!.lastIndexOf(':');
    const port = Number.parseInt(f[1]!.slice(colon + 1), 16);
    if (colon > 0 && port > 0 && f[9] !== '0') into.set(f[9]!, port);
  }
  return into;
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export class ListeningPorts {
  /** Network namespace (its ns link) → listening inode → port, for the current scan. */
  #tables = new Map<string, Map<string, number>>();
  /** Descriptors looked at, all scans (the cost). */
  fdsRead = 0;

  constructor(private readonly procRoot = '/proc') {}

  /** Starts a scan: namespaces' tables are read again when first needed. */
  reset(): void {
    this.#tables.clear();
  }

  /** The ports `pid` listens on now; null when its /proc entry cannot be read. */
  of(pid: number): Set<number> | null {
    const dir = `${this.procRoot}/${pid}`;
    let ns: string;
    let fds: string[];
    try {
      ns = readlinkSync(`${dir}/ns/net`);
      fds = readdirSync(`${dir}/fd`);
    } catch {
      return null;
    }
    let table = this.#tables.get(ns);
    if (table === undefined) {
      table = parseListeningSockets(read(`${dir}/net/tcp6`), parseListeningSockets(read(`${dir}/net/tcp`)));
      this.#tables.set(ns, table);
    }
    const ports = new Set<number>();
    if (table.size === 0) return ports;
    for (const fd of fds) {
      this.fdsRead++;
      let link: string;
      try {
        link = readlinkSync(`${dir}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!link.startsWith('socket:[')) continue;
      const port = table.get(link.slice(8, -1));
      if (port !== undefined) ports.add(port);
    }
    return ports;
  }
}
