// A live attachment. Closing it detaches the probe; so does the process exiting.
import type { NativeLink } from './native.js';

export class Link {
  #native: NativeLink | null;

  constructor(native: NativeLink, readonly description: string) {
    this.#native = native;
  }

  get closed(): boolean {
    return this.#native === null;
  }

  close(): void {
    this.#native?.destroy();
    this.#native = null;
  }

  /**
   * Detaches off the JS thread: a uprobe's detach waits out an RCU grace period in the kernel, and
   * links closed this way together wait side by side (closeLinks).
   */
  async closeInBackground(): Promise<void> {
    const native = this.#native;
    this.#native = null;
    await native?.destroyInBackground();
  }
}

/** Closes every link, detaching them side by side on the libuv pool (its size: UV_THREADPOOL_SIZE). */
export async function closeLinks(links: Iterable<Link>): Promise<void> {
  await Promise.all([...links].map((l) => l.closeInBackground()));
}

/** Several links that live and die together (one perf event per CPU, say). */
export class LinkGroup {
  constructor(readonly links: Link[]) {}

  close(): void {
    for (const l of this.links) l.close();
  }
}
