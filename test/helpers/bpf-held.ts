// Which BPF programs and links a process holds, and which the kernel still has: what the cleanup
// tests (SIGKILL, SIGTERM) compare before and after the agent is gone.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** The BPF programs and links a process holds, by the kernel's own record of its file descriptors. */
export function held(pid: number, kind: 'prog' | 'link'): number[] {
  const out: number[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = new RegExp(`^${kind}_id:\\s*(\\d+)$`, 'm').exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m !== null) out.push(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return [...new Set(out)];
}

/** Ids of that kind the kernel still has (bpftool lists every one, whoever holds it). */
export function existing(kind: 'prog' | 'link'): Set<number> {
  const all = JSON.parse(execFileSync('bpftool', [kind, 'show', '-j'], { encoding: 'utf8' }) || '[]') as Array<{ id: number }>;
  return new Set(all.map((o) => o.id));
}
