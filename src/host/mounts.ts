// tracefs and bpffs: the agent mounts them when the host has not (as in many minimal VMs).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { LanternError } from '../errors.js';

export const TRACEFS = '/sys/kernel/tracing';
export const BPFFS = '/sys/fs/bpf';

export interface MountEntry {
  source: string;
  target: string;
  fstype: string;
}

/** Parses /proc/mounts (octal escapes such as \040 for spaces decoded). */
export function parseMounts(text: string): MountEntry[] {
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => {
    const [source = '', target = '', fstype = ''] = l.split(' ');
    return { source: unescape(source), target: unescape(target), fstype };
  });
}

export function isMounted(fstype: string, target: string, mountsText = readFileSync('/proc/mounts', 'utf8')): boolean {
  return parseMounts(mountsText).some((m) => m.fstype === fstype && m.target === target);
}

/** Mounts `fstype` at `target` unless it is there; returns whether a mount was made. */
export function ensureMounted(fstype: 'tracefs' | 'bpf', target: string): boolean {
  if (isMounted(fstype, target)) return false;
  // Older hosts expose tracefs only under debugfs; libbpf looks in both places.
  if (fstype === 'tracefs' && existsSync('/sys/kernel/debug/tracing/events')) return false;
  try {
    mkdirSync(target, { recursive: true });
    execFileSync('mount', ['-t', fstype, fstype === 'bpf' ? 'bpf' : 'nodev', target], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    throw new LanternError('LANTERN_ERR_MOUNT', `cannot mount ${fstype} at ${target}: ${stderr || (e as Error).message}`);
  }
  return true;
}
