// Scripts from a directory: every `NAME.bt` in it runs as script NAME, and follows the file: added,
// changed (restarted with the new text) or removed (stopped) while the agent runs. This is the
// shape a Kubernetes ConfigMap mount gives, where an update swaps a `..data` symlink at once: the
// directory is read every interval (inotify sees symlink swaps unreliably) and compared by content.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../log.js';
import { type BpftraceScripts, ScriptError } from './scripts.js';

const SCRIPT_FILE = /^([A-Za-z0-9][A-Za-z0-9._-]{0,62})\.bt$/;
/** A script file larger than this is refused (bpftrace scripts are small; a mistake is not). */
const MAX_SCRIPT_BYTES = 256 * 1024;

export class ProbesDirectory {
  /** Script name → content hash of what runs from this directory. */
  readonly #running = new Map<string, string>();
  /** Files refused (bad name, too large, name taken), by name → hash, so each is reported once. */
  readonly #reported = new Map<string, string>();
  #timer: NodeJS.Timeout | null = null;
  #sync: Promise<void> = Promise.resolve();

  constructor(private readonly dir: string, private readonly scripts: BpftraceScripts, private readonly log: Logger, private readonly intervalMs = 2000) {}

  /** Reads the directory now, then every interval. */
  async start(): Promise<void> {
    await this.rescan();
    this.#timer = setInterval(() => void this.rescan(), this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One pass: start new files, restart changed ones, stop removed ones. Never throws. */
  rescan(): Promise<void> {
    this.#sync = this.#sync.then(() => this.#scan()).catch((e: unknown) => this.log.warn('probes directory scan failed', { dir: this.dir, error: String(e) }));
    return this.#sync;
  }

  async #scan(): Promise<void> {
    const files = this.#read();
    for (const [name, hash] of this.#running) {
      const now = files.get(name);
      if (now?.hash === hash) continue;
      this.#running.delete(name);
      await this.scripts.remove(name, now === undefined ? `${name}.bt was removed from ${this.dir}` : `${name}.bt changed`).catch(() => undefined);
      if (now === undefined) this.log.info('bpftrace script removed', { script: name, dir: this.dir });
    }
    for (const [name, f] of files) {
      if (this.#running.has(name) || this.#reported.get(name) === f.hash) continue;
      try {
        const status = await this.scripts.add({ name, source: f.source, origin: 'directory' });
        this.#running.set(name, f.hash);
        this.#reported.delete(name);
        if (status.state === 'failed') this.log.warn('bpftrace script failed', { script: name, reason: status.reason });
        else this.log.info('bpftrace script started', { script: name, dir: this.dir, state: status.state });
      } catch (e) {
        // Name taken by an API script, or the limit reached: said once per file content.
        this.#reported.set(name, f.hash);
        this.log.warn('bpftrace script from the probes directory not started', { script: name, error: e instanceof ScriptError ? e.message : String(e) });
      }
    }
  }

  #read(): Map<string, { source: string; hash: string }> {
    const out = new Map<string, { source: string; hash: string }>();
    let entries: string[];
    try {
      entries = readdirSync(this.dir);
    } catch {
      return out; // not there (yet): no scripts
    }
    for (const file of entries) {
      const m = SCRIPT_FILE.exec(file);
      if (m === null) continue;
      const path = join(this.dir, file);
      try {
        const st = statSync(path); // follows the ConfigMap's symlinks
        if (!st.isFile()) continue;
        if (st.size > MAX_SCRIPT_BYTES) {
          this.#reportOnce(m[1] as string, `size:${st.size}`, `${file} is ${st.size} bytes, over the ${MAX_SCRIPT_BYTES} allowed`);
          continue;
        }
        const source = readFileSync(path, 'utf8');
        out.set(m[1] as string, { source, hash: createHash('sha256').update(source).digest('hex') });
      } catch {
        // removed between the listing and the read: the next pass sees it gone
      }
    }
    return out;
  }

  #reportOnce(name: string, key: string, message: string): void {
    if (this.#reported.get(name) === key) return;
    this.#reported.set(name, key);
    this.log.warn('bpftrace script file refused', { script: name, error: message });
  }
}
