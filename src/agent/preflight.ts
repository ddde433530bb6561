// Before loading anything: privileges, and the kernel filesystems libbpf needs.
import { readFileSync } from 'node:fs';
import { LanternError } from '../errors.js';
import { BPFFS, TRACEFS, ensureMounted } from '../host/mounts.js';
import { privilegeReport } from '../host/privileges.js';
import type { Logger } from '../log.js';

export function preflight(log: Logger): void {
  const priv = privilegeReport(readFileSync('/proc/self/status', 'utf8'), process.getuid?.() ?? -1);
  if (!priv.canLoadBpf) throw new LanternError('LANTERN_ERR_PRIVILEGES', `cannot load BPF programs: ${priv.detail}`);
  if (ensureMounted('tracefs', TRACEFS)) log.info('mounted tracefs', { at: TRACEFS });
  if (ensureMounted('bpf', BPFFS)) log.info('mounted bpffs', { at: BPFFS });
}
