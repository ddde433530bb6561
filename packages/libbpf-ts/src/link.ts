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
}

/** Several links that live and die together (one perf event per CPU, say). */
export class LinkGroup {
  constructor(readonly links: Link[]) {}

  close(): void {
    for (const l of this.links) l.close();
  }
}
