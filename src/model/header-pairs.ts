// HeaderFields over a list of [name, value] pairs: what HTTP/2's HPACK decoder produces, and what
// tests and other producers build by hand.
import type { HeaderFields, HeaderList } from './http.js';

export class HeaderPairs implements HeaderFields {
  /** `pairs`: names already lower case, as HeaderList promises. */
  constructor(readonly pairs: HeaderList) {}

  get length(): number {
    return this.pairs.length;
  }

  get(name: string): string | undefined {
    for (const [n, v] of this.pairs) if (n === name) return v;
    return undefined;
  }

  getAll(name: string): string[] {
    const out: string[] = [];
    for (const [n, v] of this.pairs) if (n === name) out.push(v);
    return out;
  }

  [Symbol.iterator](): Iterator<[name: string, value: string]> {
    return this.pairs[Symbol.iterator]();
  }

  /** As the pairs, in logs and test output. */
  toJSON(): HeaderList {
    return this.pairs;
  }
}

/** `[name, value]` pairs (names lower case) as HeaderFields. */
export const headerPairs = (pairs: HeaderList): HeaderFields => new HeaderPairs(pairs);
