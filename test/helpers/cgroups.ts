// Cgroups shaped like a container runtime's, for tests: a directory made where a runtime would put
// one (…/docker-<id>.scope on cgroup v2, …/docker/<id> on a v1 hierarchy), a process moved in by
// writing its pid to cgroup.procs, and everything removed again.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface Mount {
  point: string;
  /** cgroup2, or the v1 controllers (super options) of the hierarchy. */
  kind: 'v2' | string;
}

/** The cgroup mounts of this mount namespace, from /proc/self/mountinfo (proc(5)). */
export function cgroupMounts(): Mount[] {
  const out: Mount[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const point = left.split(' ')[4]!;
    const [fstype, , superOptions = ''] = right.split(' ');
    if (fstype === 'cgroup2') out.push({ point, kind: 'v2' });
    else if (fstype === 'cgroup') out.push({ point, kind: superOptions });
  }
  return out;
}

/** A writable cgroup v2 mount, or null. */
export function cgroupV2Mount(): string | null {
  return cgroupMounts().find((m) => m.kind === 'v2')?.point ?? null;
}

/** A v1 hierarchy with the pids controller (harmless to move a process in), or null. */
export function cgroupV1PidsMount(): string | null {
  return cgroupMounts().find((m) => m.kind !== 'v2' && m.kind.split(',').includes('pids'))?.point ?? null;
}

export function randomContainerId(): string {
  return randomBytes(32).toString('hex');
}

export interface TestCgroup {
  /** The directory made for the container. */
  dir: string;
  /** As /proc/<pid>/cgroup shows it. */
  path: string;
  /** Moves a process in. */
  add(pid: number): void;
  /** Removes the directories (once their processes have exited), innermost first. */
  remove(): Promise<void>;
}

/**
 * Makes `<mount>/<parts…>` (parts relative to the mount, e.g. ['lantern-test.slice',
 * 'docker-<id>.scope']); `remove()` takes away every directory it made.
 */
export function makeCgroup(mount: string, parts: string[]): TestCgroup {
  const made: string[] = [];
  let dir = mount;
  for (const p of parts) {
    dir = join(dir, p);
    try {
      mkdirSync(dir);
      made.push(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  return {
    dir,
    path: `/${parts.join('/')}`,
    add: (pid) => writeFileSync(join(dir, 'cgroup.procs'), String(pid)),
    async remove() {
      for (const d of made.reverse()) {
        // A process that just exited leaves its cgroup when it is reaped: EBUSY for a moment.
        for (let i = 0; ; i++) {
          try {
            rmdirSync(d);
            break;
          } catch (e) {
            const code = (e as NodeJS.ErrnoException).code;
            if (code === 'ENOENT') break;
            if (code !== 'EBUSY' || i >= 50) throw e;
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      }
    },
  };
}
