// The vDSO is one image per kernel (per ABI), mapped into every process: reading it once from our
// own memory is enough to name its functions (`__vdso_clock_gettime`) in any process's stacks.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { parseProcMaps } from '../metadata/proc.js';

/** The vDSO image of this process, or undefined when it cannot be read. */
export function readOwnVdso(): Buffer | undefined {
  try {
    const vdso = parseProcMaps(readFileSync('/proc/self/maps', 'utf8')).find((m) => m.path === '[vdso]');
    if (!vdso) return undefined;
    const size = Number(vdso.end - vdso.start);
    if (size <= 0 || size > 1 << 20) return undefined;
    const fd = openSync('/proc/self/mem', 'r');
    try {
      const buf = Buffer.alloc(size);
      const n = readSync(fd, buf, 0, size, vdso.start);
      return n === size ? buf : undefined;
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}
