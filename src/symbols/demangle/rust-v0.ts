// Rust's v0 mangling (`_R…`, RFC 2603, https://doc.rust-lang.org/rustc/symbol-mangling/v0.html),
// printed like `rustc-demangle`'s alternate form (`{:#}`): no crate disambiguator hashes, so
// `_RNvCs1234_7mycrate3foo` → `mycrate::foo`. Covered: paths (crate roots, nested paths with
// closures and shims, inherent and trait impls, generic arguments), all types, const generics of
// integer / bool / char type, lifetimes and binders, backreferences and punycode identifiers.
// Backreferences can make output exponential in the input, so output and depth are bounded.

class Invalid extends Error {}

const MAX_DEPTH = 200;
const MAX_OUTPUT = 8192;
const MAX_STEPS = 100_000;

const BASIC: ReadonlyMap<string, string> = new Map([
  ['a', 'i8'], ['b', 'bool'], ['c', 'char'], ['d', 'f64'], ['e', 'str'], ['f', 'f32'], ['h', 'u8'],
  ['i', 'isize'], ['j', 'usize'], ['l', 'i32'], ['m', 'u32'], ['n', 'i128'], ['o', 'u128'], ['s', 'i16'],
  ['t', 'u16'], ['u', '()'], ['v', '...'], ['x', 'i64'], ['y', 'u64'], ['z', '!'], ['p', '_'],
]);

class Printer {
  private pos = 0;
  private out = '';
  private depth = 0;
  private steps = 0;
  /** Lifetimes bound by enclosing `for<…>` binders, for naming 'a, 'b, … */
  private boundLifetimes = 0;
  /** While > 0, parse without printing (an impl's own path is skipped). */
  private skipping = 0;

  constructor(private readonly s: string) {}

  run(): string {
    this.path(true);
    // An instantiating crate may follow; it is not printed.
    if (this.pos < this.s.length && /[A-Z]/.test(this.peek())) {
      this.skipping++;
      this.path(false);
      this.skipping--;
    }
    if (this.pos !== this.s.length) throw new Invalid('trailing characters');
    return this.out;
  }

  private peek(): string {
    return this.s[this.pos] ?? '';
  }

  private next(): string {
    if (this.pos >= this.s.length) throw new Invalid('unexpected end');
    return this.s[this.pos++]!;
  }

  private eat(c: string): boolean {
    if (this.s[this.pos] === c) {
      this.pos++;
      return true;
    }
    return false;
  }

  private print(text: string): void {
    if (this.skipping > 0) return;
    this.out += text;
    if (this.out.length > MAX_OUTPUT) throw new Invalid('output too long');
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) throw new Invalid('too deep');
    // Backreferences re-read earlier parts: bound the total work too (skipped parts print nothing).
    if (++this.steps > MAX_STEPS) throw new Invalid('too much work');
  }

  // <base-62-number> = {<0-9a-zA-Z>} "_"; "_" alone is 0, otherwise the digits' value + 1.
  private base62(): number {
    if (this.eat('_')) return 0;
    // Crate disambiguators are 64-bit hashes: their value is never printed, so precision beyond
    // 2^53 does not matter; the digit count is bounded instead.
    let x = 0;
    for (let digits = 0; ; digits++) {
      if (digits > 16) throw new Invalid('number too long');
      const c = this.next();
      if (c === '_') break;
      let d: number;
      if (c >= '0' && c <= '9') d = c.charCodeAt(0) - 48;
      else if (c >= 'a' && c <= 'z') d = c.charCodeAt(0) - 97 + 10;
      else if (c >= 'A' && c <= 'Z') d = c.charCodeAt(0) - 65 + 36;
      else throw new Invalid('bad base-62 digit');
      x = x * 62 + d;
    }
    return x + 1;
  }

  private optInteger62(tag: string): number {
    return this.eat(tag) ? this.base62() + 1 : 0;
  }

  private disambiguator(): number {
    return this.optInteger62('s');
  }

  private decimal(): number {
    const start = this.pos;
    if (this.eat('0')) return 0;
    while (/[0-9]/.test(this.peek())) this.pos++;
    if (this.pos === start || this.pos - start > 9) throw new Invalid('bad decimal');
    return Number(this.s.slice(start, this.pos));
  }

  // <identifier> = [<disambiguator>] ["u"] <decimal> ["_"] <bytes>
  private ident(): { name: string; dis: number } {
    const dis = this.disambiguator();
    const puny = this.eat('u');
    const len = this.decimal();
    this.eat('_');
    if (this.pos + len > this.s.length) throw new Invalid('identifier past the end');
    let name = this.s.slice(this.pos, this.pos + len);
    this.pos += len;
    if (puny) name = punycodeDecode(name);
    return { name, dis };
  }

  // <backref> = "B" <base-62-number>: an offset from the start of what follows "_R".
  private backref(fn: () => void): void {
    const at = this.pos - 1;
    const target = this.base62();
    if (target >= at) throw new Invalid('backref forward');
    const saved = this.pos;
    this.pos = target;
    try {
      fn();
    } finally {
      this.pos = saved;
    }
  }

  private path(inValue: boolean): void {
    this.enter();
    try {
      const tag = this.next();
      switch (tag) {
        case 'C': {
          const { name } = this.ident();
          this.print(name);
          break;
        }
        case 'M':
        case 'X':
        case 'Y': {
          if (tag !== 'Y') {
            this.disambiguator();
            this.skipping++;
            try {
              this.path(false);
            } finally {
              this.skipping--;
            }
          }
          this.print('<');
          this.type();
          if (tag !== 'M') {
            this.print(' as ');
            this.path(false);
          }
          this.print('>');
          break;
        }
        case 'N': {
          const ns = this.next();
          if (!/[a-zA-Z]/.test(ns)) throw new Invalid('bad namespace');
          this.path(inValue);
          const { name, dis } = this.ident();
          if (ns >= 'A' && ns <= 'Z') {
            const kind = ns === 'C' ? 'closure' : ns === 'S' ? 'shim' : ns;
            this.print(`::{${kind}${name ? `:${name}` : ''}#${dis}}`);
          } else if (name) {
            this.print(`::${name}`);
          }
          break;
        }
        case 'I': {
          this.path(inValue);
          if (inValue) this.print('::');
          this.print('<');
          for (let i = 0; !this.eat('E'); i++) {
            if (i > 0) this.print(', ');
            this.genericArg();
          }
          this.print('>');
          break;
        }
        case 'B':
          this.backref(() => this.path(inValue));
          break;
        default:
          throw new Invalid(`path tag ${tag}`);
      }
    } finally {
      this.depth--;
    }
  }

  private genericArg(): void {
    if (this.eat('L')) this.lifetime(this.base62());
    else if (this.eat('K')) this.constant();
    else this.type();
  }

  private lifetime(index: number): void {
    if (index === 0) {
      this.print("'_");
      return;
    }
    const depth = this.boundLifetimes - index;
    if (depth < 0) throw new Invalid('lifetime out of range');
    this.print(depth < 26 ? `'${String.fromCharCode(97 + depth)}` : `'_${depth}`);
  }

  /** `for<'a, 'b> ` from a binder, then `body`; the binder's lifetimes are in scope inside. */
  private binder(body: () => void): void {
    const count = this.optInteger62('G');
    if (count > 0) {
      this.print('for<');
      for (let i = 0; i < count; i++) {
        if (i > 0) this.print(', ');
        this.boundLifetimes++;
        this.lifetime(1);
      }
      this.print('> ');
    }
    try {
      body();
    } finally {
      this.boundLifetimes -= count;
    }
  }

  private type(): void {
    this.enter();
    try {
      const tag = this.next();
      const basic = BASIC.get(tag);
      if (basic !== undefined) {
        this.print(basic);
        return;
      }
      switch (tag) {
        case 'R':
        case 'Q': {
          this.print('&');
          if (this.eat('L')) {
            const lt = this.base62();
            if (lt !== 0) {
              this.lifetime(lt);
              this.print(' ');
            }
          }
          if (tag === 'Q') this.print('mut ');
          this.type();
          return;
        }
        case 'P':
          this.print('*const ');
          this.type();
          return;
        case 'O':
          this.print('*mut ');
          this.type();
          return;
        case 'A':
        case 'S':
          this.print('[');
          this.type();
          if (tag === 'A') {
            this.print('; ');
            this.constant();
          }
          this.print(']');
          return;
        case 'T': {
          this.print('(');
          let n = 0;
          for (; !this.eat('E'); n++) {
            if (n > 0) this.print(', ');
            this.type();
          }
          if (n === 1) this.print(',');
          this.print(')');
          return;
        }
        case 'F':
          this.binder(() => {
            if (this.eat('U')) this.print('unsafe ');
            if (this.eat('K')) {
              let abi: string;
              if (this.eat('C')) abi = 'C';
              else abi = this.ident().name.replace(/_/g, '-');
              this.print(`extern "${abi}" `);
            }
            this.print('fn(');
            for (let i = 0; !this.eat('E'); i++) {
              if (i > 0) this.print(', ');
              this.type();
            }
            this.print(')');
            if (this.eat('u')) return; // returns ()
            this.print(' -> ');
            this.type();
          });
          return;
        case 'D': {
          this.print('dyn ');
          this.binder(() => {
            for (let i = 0; !this.eat('E'); i++) {
              if (i > 0) this.print(' + ');
              this.dynTrait();
            }
          });
          if (!this.eat('L')) throw new Invalid('dyn without lifetime');
          const lt = this.base62();
          if (lt !== 0) {
            this.print(' + ');
            this.lifetime(lt);
          }
          return;
        }
        case 'B':
          this.backref(() => this.type());
          return;
        default:
          this.pos--;
          this.path(false);
      }
    } finally {
      this.depth--;
    }
  }

  // <dyn-trait> = <path> {<dyn-trait-assoc-binding>}; bindings print as `Trait<Item = T>`.
  private dynTrait(): void {
    const open = this.pathMaybeOpenGenerics();
    let first = !open;
    while (this.eat('p')) {
      this.print(first ? '<' : ', ');
      first = false;
      const { name } = this.ident();
      this.print(`${name} = `);
      this.type();
    }
    if (!first) this.print('>');
  }

  /** A trait path whose generic list is left open so associated bindings can join it. */
  private pathMaybeOpenGenerics(): boolean {
    if (this.eat('B')) {
      let open = false;
      this.backref(() => {
        open = this.pathMaybeOpenGenerics();
      });
      return open;
    }
    if (this.eat('I')) {
      this.path(false);
      this.print('<');
      for (let i = 0; !this.eat('E'); i++) {
        if (i > 0) this.print(', ');
        this.genericArg();
      }
      return true;
    }
    this.path(false);
    return false;
  }

  private constant(): void {
    this.enter();
    try {
      if (this.eat('B')) {
        this.backref(() => this.constant());
        return;
      }
      const tag = this.next();
      if (tag === 'p') {
        this.print('_');
        return;
      }
      const negative = this.eat('n');
      const start = this.pos;
      while (/[0-9a-f]/.test(this.peek())) this.pos++;
      const hex = this.s.slice(start, this.pos);
      if (!this.eat('_')) throw new Invalid('bad const');
      const value = hex === '' ? 0n : BigInt(`0x${hex}`);
      if ('hmjyotsaxlni'.includes(tag)) this.print(`${negative ? '-' : ''}${value}`);
      else if (tag === 'b' && value <= 1n) this.print(value === 1n ? 'true' : 'false');
      else if (tag === 'c' && value <= 0x10ffffn) this.print(JSON.stringify(String.fromCodePoint(Number(value))).replace(/^"|"$/g, "'"));
      else throw new Invalid('const type not supported');
    } finally {
      this.depth--;
    }
  }
}

/** RFC 3492 decoding for identifiers marked with `u` (Rust writes `_` where punycode has `-`). */
function punycodeDecode(encoded: string): string {
  const sep = encoded.lastIndexOf('_');
  const output = sep >= 0 ? [...encoded.slice(0, sep)].map((c) => c.codePointAt(0)!) : [];
  const input = sep >= 0 ? encoded.slice(sep + 1) : encoded;
  const base = 36;
  let n = 128;
  let bias = 72;
  let i = 0;
  for (let pos = 0; pos < input.length; ) {
    const oldi = i;
    let w = 1;
    for (let k = base; ; k += base) {
      if (pos >= input.length) throw new Invalid('bad punycode');
      const c = input.charCodeAt(pos++);
      const digit = c >= 97 && c <= 122 ? c - 97 : c >= 48 && c <= 57 ? c - 22 : -1;
      if (digit < 0) throw new Invalid('bad punycode digit');
      i += digit * w;
      const t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
      if (digit < t) break;
      w *= base - t;
      if (i > 0x10ffff * 1000 || w > 1e12) throw new Invalid('punycode overflow');
    }
    const len = output.length + 1;
    let delta = oldi === 0 ? Math.floor((i - oldi) / 700) : Math.floor((i - oldi) / 2);
    delta += Math.floor(delta / len);
    let k = 0;
    while (delta > ((base - 1) * 26) >> 1) {
      delta = Math.floor(delta / (base - 1));
      k += base;
    }
    bias = k + Math.floor(((base - 1 + 1) * delta) / (delta + 38));
    n += Math.floor(i / len);
    i %= len;
    if (n > 0x10ffff || output.length > 1000) throw new Invalid('bad punycode code point');
    output.splice(i, 0, n);
    i++;
  }
  return String.fromCodePoint(...output);
}

/** Demangles a Rust v0 symbol (`_R…`); `undefined` when it is not one or is malformed. */
export function demangleRustV0(mangled: string): string | undefined {
  if (!mangled.startsWith('_R')) return undefined;
  // A vendor-specific suffix (`.llvm.123`, `$…`) is not part of the name.
  const end = mangled.search(/[.$]/);
  let inner = (end < 0 ? mangled : mangled.slice(0, end)).slice(2);
  // An encoding version may follow `_R` as decimal digits; only version 0 (absent) exists.
  if (/^[0-9]/.test(inner)) return undefined;
  if (!/^[A-Z]/.test(inner)) return undefined;
  if (inner.length > MAX_OUTPUT) inner = inner.slice(0, MAX_OUTPUT);
  try {
    return new Printer(inner).run();
  } catch (err) {
    if (err instanceof Invalid || err instanceof RangeError) return undefined;
    throw err;
  }
}
