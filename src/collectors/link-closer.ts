// Detaches probes without holding the JS thread. A uprobe's detach waits out an RCU grace period in
// the kernel (~0.1 s each here): closed one by one on the JS thread, the TLS probes of a few
// libraries stopped the agent for seconds (and a library released while running stalled every
// collector for as long). Closed in the background they wait side by side on the libuv pool; what
// must wait for them (a slot reused by the next probe, the agent's stop) goes on when they are done.
import { type Link, closeLinks } from 'libbpf-ts';

export class LinkCloser {
  readonly #pending = new Set<Promise<void>>();

  /** Detaches `links` in the background, then runs `after` (what the probes used is free then). */
  close(links: Iterable<Link>, after?: () => void): void {
    const p = closeLinks(links).then(after).finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  /** Resolves once every detach begun so far is done. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }
}
