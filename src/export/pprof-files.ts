// Writes each profile as `<dir>/<service>-<UTC time>-<seq>.pb.gz`, keeping the newest
// `maxFilesPerService` files per service it wrote (older ones are deleted). Write failures are
// counted and reported once per outage; they never stop the profiler.
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface PprofFilesOptions {
  dir: string;
  /** Default 360 (an hour at a 10 s interval). */
  maxFilesPerService?: number;
  onStatus?(ok: boolean, detail: string): void;
}

/** A service name as a file name part: no separators, nothing hidden, bounded. */
export function fileSafe(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_').slice(0, 100);
  return s === '' ? 'unknown' : s;
}

function utcStamp(unixNano: bigint): string {
  return new Date(Number(unixNano / 1_000_000n)).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

export class PprofFiles {
  readonly #o: PprofFilesOptions;
  readonly #written = new Map<string, string[]>();
  #seq = 0;
  #dirReady: Promise<unknown> | null = null;
  #healthy = true;
  readonly #stats = { written: 0, written_bytes: 0, failed: 0, deleted_old: 0 };

  constructor(opts: PprofFilesOptions) {
    this.#o = opts;
  }

  get dir(): string {
    return this.#o.dir;
  }

  /** Resolves with the path written, or null on failure (counted). */
  async write(service: string, endUnixNano: bigint, gz: Buffer): Promise<string | null> {
    const name = `${fileSafe(service)}-${utcStamp(endUnixNano)}-${String(++this.#seq).padStart(4, '0')}.pb.gz`;
    const path = join(this.#o.dir, name);
    try {
      this.#dirReady ??= mkdir(this.#o.dir, { recursive: true });
      await this.#dirReady;
      // Written under a temporary name and renamed: a reader never sees half a profile.
      await writeFile(`${path}.tmp`, gz);
      await rename(`${path}.tmp`, path);
    } catch (e) {
      this.#dirReady = null;
      this.#stats.failed++;
      this.#status(false, (e as Error).message);
      return null;
    }
    this.#stats.written++;
    this.#stats.written_bytes += gz.length;
    this.#status(true, path);
    const list = this.#written.get(service) ?? [];
    list.push(path);
    this.#written.set(service, list);
    while (list.length > (this.#o.maxFilesPerService ?? 360)) {
      const old = list.shift();
      if (old !== undefined) await unlink(old).then(() => this.#stats.deleted_old++, () => undefined);
    }
    return path;
  }

  #status(ok: boolean, detail: string): void {
    if (ok === this.#healthy) return;
    this.#healthy = ok;
    this.#o.onStatus?.(ok, detail);
  }

  stats(): Record<string, number> {
    return { ...this.#stats };
  }
}
