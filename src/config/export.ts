// The `export` section: how much the agent holds for a backend that is down (in memory, and on disk
// when configured), and how long a shutdown may take. Names follow the Collector's exporterhelper
// (`sending_queue.queue_size`, the file_storage extension behind `sending_queue.storage`).
import { isAbsolute } from 'node:path';
import type { Problems } from './validate.js';
import { asPositiveInt, asPositiveNumber, describe } from './validate.js';

export interface DiskBufferConfig {
  /** A directory of the agent's own (created 0700); one subdirectory per signal. */
  path: string;
  /** Bytes of request files kept at most, over every signal; the oldest go first past it. */
  maxBytes: number;
}

export interface ExportConfig {
  /** Spans (and log records) waiting in memory per destination. */
  queueSize: number;
  /** Spans and log records a network destination could not take are written here, replayed later. */
  diskBuffer?: DiskBufferConfig;
  /** SIGTERM/SIGINT: probes detached and everything flushed within this, whatever the backend does. */
  shutdownTimeoutMs: number;
}

export function defaultExportConfig(): ExportConfig {
  return { queueSize: 16_384, shutdownTimeoutMs: 10_000 };
}

const KEYS = ['queue_size', 'disk_buffer', 'shutdown_timeout'];
const DISK_KEYS = ['path', 'max_bytes'];
/**
 * 8 MiB: shared between the signals, room for a few requests each (a request of spans is up to ~2 MiB,
 * DEFAULT_EXPORTER_OPTIONS.spanQueue.maxBatchBytes); smaller would drop nearly everything it takes.
 */
const MIN_DISK_BYTES = 8 << 20;

export function applyExportFile(c: ExportConfig, o: Record<string, unknown> | undefined, source: string, problems: Problems): void {
  if (!o) return;
  for (const k of Object.keys(o)) if (!KEYS.includes(k)) problems.add(source, `export.${k}`, `unknown setting (known: ${KEYS.join(', ')})`);
  if (o.queue_size !== undefined) {
    const n = asPositiveInt(o.queue_size, 1_048_576);
    if (typeof n === 'string') problems.add(source, 'export.queue_size', n);
    else c.queueSize = n;
  }
  if (o.shutdown_timeout !== undefined) setShutdownTimeout(c, o.shutdown_timeout, source, 'export.shutdown_timeout', problems);
  const d = o.disk_buffer;
  if (d === undefined || d === null) return;
  if (typeof d !== 'object' || Array.isArray(d)) {
    problems.add(source, 'export.disk_buffer', `expected a mapping, got ${describe(d)}`);
    return;
  }
  const disk = d as Record<string, unknown>;
  for (const k of Object.keys(disk)) if (!DISK_KEYS.includes(k)) problems.add(source, `export.disk_buffer.${k}`, `unknown setting (known: ${DISK_KEYS.join(', ')})`);
  const path = disk.path;
  if (typeof path !== 'string' || !isAbsolute(path)) problems.add(source, 'export.disk_buffer.path', `expected an absolute directory path, got ${describe(path)}`);
  const max = asPositiveInt(disk.max_bytes ?? 256 * 1024 * 1024);
  if (typeof max === 'string') problems.add(source, 'export.disk_buffer.max_bytes', max);
  else if (max < MIN_DISK_BYTES) problems.add(source, 'export.disk_buffer.max_bytes', `expected at least ${MIN_DISK_BYTES} bytes, got ${max}`);
  if (typeof path === 'string' && isAbsolute(path) && typeof max === 'number' && max >= MIN_DISK_BYTES) c.diskBuffer = { path, maxBytes: max };
}

/** Seconds (a number, from the file or --shutdown-timeout). */
export function setShutdownTimeout(c: ExportConfig, v: unknown, source: string, path: string, problems: Problems): void {
  const s = asPositiveNumber(v);
  if (typeof s === 'string' || s > 600) problems.add(source, path, `expected seconds, more than 0 and at most 600, got ${describe(v)}`);
  else c.shutdownTimeoutMs = Math.round(s * 1000);
}
