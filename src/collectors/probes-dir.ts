// Probes from a directory: every file whose name matches a collector's pattern (`NAME.bt` for
// bpftrace scripts, `NAME.yaml` for function probes) is started as probe NAME, and followed: added,
// changed (restarted with the new text) or removed (stopped) while the agent runs. This is the
// shape a Kubernetes ConfigMap mount gives, where an update swaps a `..data` symlink at once: the
// directory is read every interval (inotify sees symlink swaps unreliably) and compared by content.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';

/** A file larger than this is refused (probes are small; a mistake is not). */
const MAX_PROBE_BYTES = 256 * 1024;

/** What a collector does with its files. `start` reports a refusal by throwing: said once per content. */
export interface ProbeFiles {
  /** Which files are this collector's; group 1 is the probe's name. */
  pattern: RegExp;
  /** What the log calls them ("bpftrace script", "function probe"). */
  kind: string;
  start(name: string, text: string): Promise<void>;
  stop(name: string, reason: string): Promise<void>;
}

export class ProbesDirectory {
  /** Probe name → content hash of what runs from this directory. */
  readonly #running = new Map<string, string>();
  /** Files refused (too large, invalid, name taken), by name → what was refused, so each is reported once. */
  readonly #reported = new Map<string, string>();
  #timer: NodeJS.Timeout | null = null;
  #sync: Promise<void> = Promise.resolve();

  constructor(private readonly dir: string, private readonly files: ProbeFiles, private readonly log: Logger, private readonly intervalMs = 2000) {}

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
    const found = this.#read();
    for (const [name, hash] of this.#running) {
      const now = found.get(name);
      if (now?.hash === hash) continue;
      this.#running.delete(name);
      await this.files.stop(name, now === undefined ? `its file was removed from ${this.dir}` : 'its file changed').catch(() => undefined);
      if (now === undefined) this.log.info(`${this.files.kind} removed`, { name, dir: this.dir });
    }
    for (const [name, f] of found) {
      if (this.#running.has(name) || this.#reported.get(name) === f.hash) continue;
      try {
        await this.files.start(name, f.text);
        this.#running.set(name, f.hash);
        this.#reported.delete(name);
      } catch (e) {
        this.#reported.set(name, f.hash);
        this.log.warn(`${this.files.kind} from the probes directory not started`, { name, dir: this.dir, error: (e as Error).message });
      }
    }
  }

  #read(): Map<string, { text: string; hash: string }> {
    const out = new Map<string, { text: string; hash: string }>();
    let entries: string[];
    try {
      entries = readdirSync(this.dir);
    } catch {
      return out; // not there (yet): no probes
    }
    for (const file of entries) {
      const m = this.files.pattern.exec(file);
      if (m === null || m[1] === undefined) continue;
      const path = join(this.dir, file);
      try {
        const st = statSync(path); // follows the ConfigMap's symlinks
        if (!st.isFile()) continue;
        if (st.size > MAX_PROBE_BYTES) {
          this.#reportOnce(m[1], `size:${st.size}`, `${file} is ${st.size} bytes, over the ${MAX_PROBE_BYTES} allowed`);
          continue;
        }
        const text = readFileSync(path, 'utf8');
        out.set(m[1], { text, hash: createHash('sha256').update(text).digest('hex') });
      } catch {
        // removed between the listing and the read: the next pass sees it gone
      }
    }
    return out;
  }

  #reportOnce(name: string, key: string, message: string): void {
    if (this.#reported.get(name) === key) return;
    this.#reported.set(name, key);
    this.log.warn(`${this.files.kind} file refused`, { name, error: message });
  }
}
