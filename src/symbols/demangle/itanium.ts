// Itanium C++ ABI demangler (https://itanium-cxx-abi.github.io/cxx-abi/abi.html#mangling), the
// practical subset that names functions in profiles: nested and local names, templates, the std::
// abbreviations, substitutions, operators, ctors/dtors, lambdas, ABI tags, special names (vtables,
// thunks, guard variables) and GCC clone suffixes. Output follows c++filt's spelling so names match
// what `nm -C` and perf print; with `params: false` the parameter list, the return type of template
// functions and method qualifiers are left out (`ns::Class::method`), which is what a flame graph
// wants. Expressions inside templates (`X…E`, `decltype`) are covered only for the common forms.
//
// Parsing builds a small tree first because C's declarator syntax wraps types inside out: a pointer
// to a function prints as `void (*)(int)`, so each type prints in a left and a right part (the same
// technique as LLVM's ItaniumDemangle).

export interface ItaniumOptions {
  /** Print parameter lists, template-function return types and method qualifiers (c++filt style). */
  params?: boolean;
}

/** Thrown inside the parser only; demangleItanium turns it into `undefined`. */
class Unsupported extends Error {}

type Node =
  | { k: 'name'; s: string }
  | { k: 'std'; short: string; full: string; base: string }
  | { k: 'nested'; prefix: Node; name: Node }
  | { k: 'template'; name: Node; args: Node[] }
  | { k: 'qual'; child: Node; quals: string }
  | { k: 'ptr'; child: Node; sym: string }
  | { k: 'fn'; ret: Node | null; params: Node[]; cv: string; ref: string; exc: string }
  | { k: 'array'; child: Node; dim: string }
  | { k: 'memptr'; cls: Node; member: Node }
  | { k: 'vector'; child: Node; dim: string }
  | { k: 'expansion'; child: Node }
  | { k: 'pack'; items: Node[] }
  | { k: 'encoding'; ret: Node | null; name: Node; params: Node[]; cv: string; ref: string }
  | { k: 'special'; text: string; child: Node }
  | { k: 'local'; enc: Node; entity: Node }
  | { k: 'ctor'; base: Node; dtor: boolean }
  | { k: 'abi'; child: Node; tag: string }
  | { k: 'conv'; type: Node }
  | { k: 'lambda'; params: Node[]; n: number }
  | { k: 'clone'; child: Node; suffix: string }
  /**
   * T_ and friends, resolved when printed against the template arguments of the function being
   * printed (as c++filt does), else against those seen when it was parsed (`bound`).
   */
  | { k: 'tparam'; index: number; bound: Node | undefined }
  /** `sizeof...(T)`: the pack's length once T is known. */
  | { k: 'packsize'; param: Node }
  /** An operator expression or literal: parenthesized when it is an operand (c++filt's d_print_subexpr). */
  | { k: 'expr'; s: string };

/** A lookup table without Object.prototype keys, so no mangled text can hit `constructor`. */
function table<T>(entries: Record<string, T>): ReadonlyMap<string, T> {
  return new Map(Object.entries(entries));
}

/** Bounds so a hostile name (substitutions referring to substitutions) cannot blow up. */
const MAX_DEPTH = 256;
const MAX_OUTPUT = 8192;
const MAX_PRINT_WORK = 1 << 20;
const MAX_STEPS = 1_000_000;

const BUILTIN = table<string>({
  v: 'void', w: 'wchar_t', b: 'bool', c: 'char', a: 'signed char', h: 'unsigned char', s: 'short',
  t: 'unsigned short', i: 'int', j: 'unsigned int', l: 'long', m: 'unsigned long', x: 'long long',
  y: 'unsigned long long', n: '__int128', o: 'unsigned __int128', f: 'float', d: 'double',
  e: 'long double', g: '__float128', z: '...',
});

const BUILTIN_D = table<string>({
  d: 'decimal64', e: 'decimal128', f: 'decimal32', h: 'half', i: 'char32_t', s: 'char16_t',
  u: 'char8_t', a: 'auto', c: 'decltype(auto)', n: 'decltype(nullptr)',
});

/** Operator names (ABI §5.1.5) as c++filt prints them after `operator`. */
const OPERATORS = table<string>({
  nw: ' new', na: ' new[]', dl: ' delete', da: ' delete[]', ps: '+', ng: '-', ad: '&', de: '*',
  co: '~', pl: '+', mi: '-', ml: '*', dv: '/', rm: '%', an: '&', or: '|', eo: '^', aS: '=',
  pL: '+=', mI: '-=', mL: '*=', dV: '/=', rM: '%=', aN: '&=', oR: '|=', eO: '^=', ls: '<<',
  rs: '>>', lS: '<<=', rS: '>>=', eq: '==', ne: '!=', lt: '<', gt: '>', le: '<=', ge: '>=',
  ss: '<=>', nt: '!', aa: '&&', oo: '||', pp: '++', mm: '--', cm: ',', pm: '->*', pt: '->',
  cl: '()', ix: '[]', qu: '?', st: ' sizeof', sz: ' sizeof', at: ' alignof', az: ' alignof',
  aw: ' co_await',
});

/** Binary operators accepted inside template-argument expressions, printed `(a)op(b)` as c++filt does. */
const BINARY_EXPR = new Set(['pl', 'mi', 'ml', 'dv', 'rm', 'an', 'or', 'eo', 'ls', 'rs', 'eq', 'ne', 'lt', 'gt', 'le', 'ge', 'aa', 'oo']);

/** Literal suffixes c++filt uses for integer template arguments; other types print as `(type)value`. */
const LITERAL_SUFFIX = table<string>({ i: '', j: 'u', l: 'l', m: 'ul', x: 'll', y: 'ull' });

const STD_SUBST = table<{ short: string; full: string; base: string }>({
  a: { short: 'std::allocator', full: 'std::allocator', base: 'allocator' },
  b: { short: 'std::basic_string', full: 'std::basic_string', base: 'basic_string' },
  s: { short: 'std::string', full: 'std::basic_string<char, std::char_traits<char>, std::allocator<char> >', base: 'basic_string' },
  i: { short: 'std::istream', full: 'std::basic_istream<char, std::char_traits<char> >', base: 'basic_istream' },
  o: { short: 'std::ostream', full: 'std::basic_ostream<char, std::char_traits<char> >', base: 'basic_ostream' },
  d: { short: 'std::iostream', full: 'std::basic_iostream<char, std::char_traits<char> >', base: 'basic_iostream' },
});

interface NameState {
  endsWithTemplateArgs: boolean;
  ctorDtorConversion: boolean;
  cv: string;
  ref: string;
}

class Parser {
  pos = 0;
  private depth = 0;
  private steps = 0;
  private readonly subs: Node[] = [];
  /** Template arguments T_ refers to: those of the outermost name being encoded. */
  private templateParams: Node[] = [];
  /** Inside a lambda signature, T_ names the lambda's own `auto` parameters. */
  private inLambda = 0;
  /** While a pack expansion prints, the element standing for its pack. */
  private readonly packElement = new Map<Node, Node>();
  /** Template arguments of the functions being printed, innermost last: what T_ means there. */
  private readonly printTemplates: Node[][] = [];
  /** Inside `{lambda(…)}` T_ prints as `auto:N`. */
  private lambdaSig = 0;
  /** Characters produced so far: caps the work of names whose substitutions nest exponentially. */
  private printed = 0;

  constructor(private readonly s: string) {}

  private peek(o = 0): string {
    return this.s[this.pos + o] ?? '';
  }

  private eat(prefix: string): boolean {
    if (this.s.startsWith(prefix, this.pos)) {
      this.pos += prefix.length;
      return true;
    }
    return false;
  }

  private expect(c: string): void {
    if (!this.eat(c)) throw new Unsupported(`expected ${c} at ${this.pos}`);
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) throw new Unsupported('nesting too deep');
    // Printing revisits shared nodes (substitutions, packs): bound the total work as well.
    if (++this.steps > MAX_STEPS) throw new Unsupported('too much work');
  }

  private number(): number {
    const m = /^n?\d+/.exec(this.s.slice(this.pos, this.pos + 20));
    if (!m) throw new Unsupported(`expected a number at ${this.pos}`);
    this.pos += m[0].length;
    return m[0].startsWith('n') ? -Number(m[0].slice(1)) : Number(m[0]);
  }

  private sourceName(): string {
    const len = this.number();
    if (len <= 0 || this.pos + len > this.s.length) throw new Unsupported('bad source name length');
    const id = this.s.slice(this.pos, this.pos + len);
    this.pos += len;
    // GCC and Clang name anonymous namespaces _GLOBAL__N_<n> (or with '.' / '$' as separator).
    if (/^_GLOBAL_[._$]N/.test(id)) return '(anonymous namespace)';
    return id;
  }

  /** `_ <digit>` or `__ <number> _`: which of several same-named local entities; not printed. */
  private discriminator(): void {
    if (this.peek() !== '_') return;
    if (/\d/.test(this.peek(1))) this.pos += 2;
    else if (this.peek(1) === '_' && /\d/.test(this.peek(2))) {
      this.pos += 2;
      this.number();
      this.expect('_');
    }
  }

  // <mangled-name> ::= _Z <encoding> [. <clone suffix>]*
  mangled(params: boolean): Node {
    this.expect('_Z');
    let enc: Node;
    const start = this.pos;
    try {
      enc = this.encoding();
    } catch (err) {
      // Without parameters, a name whose parameter types use an unsupported form still names the
      // function: parse just the name.
      if (params || !(err instanceof Unsupported)) throw err;
      this.pos = start;
      this.subs.length = 0;
      this.templateParams = [];
      return this.name({ endsWithTemplateArgs: false, ctorDtorConversion: false, cv: '', ref: '' });
    }
    while (this.peek() === '.') {
      const m = /^\.(?:[A-Za-z_]+(?:\.\d+)*|\d+)/.exec(this.s.slice(this.pos));
      if (!m) break;
      enc = { k: 'clone', child: enc, suffix: m[0] };
      this.pos += m[0].length;
    }
    return enc;
  }

  // <encoding> ::= <name> <bare-function-type> | <name> | <special-name>
  encoding(): Node {
    this.enter();
    // The template parameters of an encoding are unrelated to those of the enclosing context.
    const savedParams = this.templateParams;
    const outermost = this.depth === 1;
    try {
      const c = this.peek();
      if (c === 'G' || (c === 'T' && this.peek(1) !== '_' && !/\d/.test(this.peek(1)))) return this.specialName();
      const state: NameState = { endsWithTemplateArgs: false, ctorDtorConversion: false, cv: '', ref: '' };
      const name = this.name(state);
      if (this.pos >= this.s.length || this.peek() === 'E' || this.peek() === '.') return name;
      // Ignore Clang's enable_if attribute (`Ua9enable_ifI…E`): it does not change the name.
      if (this.eat('Ua9enable_ifI')) this.skipUntilBalancedE();
      let ret: Node | null = null;
      if (state.endsWithTemplateArgs && !state.ctorDtorConversion) ret = this.type();
      const params: Node[] = [];
      if (!this.eat('v') || (this.pos < this.s.length && this.peek() !== 'E' && this.peek() !== '.')) {
        while (this.pos < this.s.length && this.peek() !== 'E' && this.peek() !== '.') params.push(this.type());
      }
      return { k: 'encoding', ret, name, params, cv: state.cv, ref: state.ref };
    } finally {
      this.depth--;
      if (!outermost) this.templateParams = savedParams;
    }
  }

  private skipUntilBalancedE(): void {
    let level = 1;
    while (level > 0 && this.pos < this.s.length) {
      const c = this.s[this.pos++];
      if (c === 'I' || c === 'X' || c === 'J') level++;
      else if (c === 'E') level--;
    }
  }

  private specialName(): Node {
    if (this.eat('GV')) return { k: 'special', text: 'guard variable for ', child: this.name(null) };
    if (this.eat('GR')) {
      const child = this.name(null);
      while (this.pos < this.s.length && this.peek() !== '_') this.pos++;
      this.expect('_');
      return { k: 'special', text: 'reference temporary for ', child };
    }
    if (this.eat('GTt')) return { k: 'special', text: 'transaction clone for ', child: this.encoding() };
    if (this.eat('TV')) return { k: 'special', text: 'vtable for ', child: this.type() };
    if (this.eat('TT')) return { k: 'special', text: 'VTT for ', child: this.type() };
    if (this.eat('TI')) return { k: 'special', text: 'typeinfo for ', child: this.type() };
    if (this.eat('TS')) return { k: 'special', text: 'typeinfo name for ', child: this.type() };
    if (this.eat('TH')) return { k: 'special', text: 'TLS init function for ', child: this.name(null) };
    if (this.eat('TW')) return { k: 'special', text: 'TLS wrapper function for ', child: this.name(null) };
    if (this.eat('Th')) {
      this.number();
      this.expect('_');
      return { k: 'special', text: 'non-virtual thunk to ', child: this.encoding() };
    }
    if (this.eat('Tv')) {
      this.number();
      this.expect('_');
      this.number();
      this.expect('_');
      return { k: 'special', text: 'virtual thunk to ', child: this.encoding() };
    }
    if (this.eat('Tc')) {
      for (let i = 0; i < 2; i++) {
        if (this.eat('h')) {
          this.number();
        } else {
          this.expect('v');
          this.number();
          this.expect('_');
          this.number();
        }
        this.expect('_');
      }
      return { k: 'special', text: 'covariant return thunk to ', child: this.encoding() };
    }
    if (this.eat('TC')) {
      const derived = this.type();
      this.number();
      this.expect('_');
      const base = this.type();
      return { k: 'special', text: `construction vtable for ${this.print(base, true)}-in-`, child: derived };
    }
    throw new Unsupported('special name');
  }

  // <name> ::= <nested-name> | <local-name> | <unscoped-name> | <unscoped-template-name> <template-args>
  private name(state: NameState | null): Node {
    this.enter();
    try {
      if (this.peek() === 'N') return this.nestedName(state);
      if (this.peek() === 'Z') return this.localName(state);
      let isSubst = false;
      let result: Node;
      if (this.peek() === 'S' && this.peek(1) !== 't') {
        result = this.substitution();
        isSubst = true;
      } else {
        const std = this.eat('St');
        result = this.unqualifiedName(state, std ? { k: 'name', s: 'std' } : null);
      }
      if (this.peek() === 'I') {
        if (!isSubst) this.subs.push(result);
        const args = this.templateArgs(state !== null);
        if (state) state.endsWithTemplateArgs = true;
        result = { k: 'template', name: result, args };
      } else if (isSubst) {
        throw new Unsupported('substitution without template args as a name');
      }
      return result;
    } finally {
      this.depth--;
    }
  }

  // <nested-name> ::= N [<CV-qualifiers>] [<ref-qualifier>] <prefix> <unqualified-name> E
  private nestedName(state: NameState | null): Node {
    this.expect('N');
    const cv = this.cvQualifiers();
    if (state) state.cv = cv;
    if (this.eat('R')) {
      if (state) state.ref = ' &';
    } else if (this.eat('O')) {
      if (state) state.ref = ' &&';
    }
    let soFar: Node | null = null;
    while (!this.eat('E')) {
      if (this.pos >= this.s.length) throw new Unsupported('unterminated nested name');
      if (state) state.endsWithTemplateArgs = false;
      const c = this.peek();
      if (c === 'T') {
        if (soFar) throw new Unsupported('template param after prefix');
        soFar = this.templateParam();
      } else if (c === 'I') {
        if (!soFar || soFar.k === 'template') throw new Unsupported('template args without a name');
        const args = this.templateArgs(state !== null);
        if (state) state.endsWithTemplateArgs = true;
        soFar = { k: 'template', name: soFar, args };
      } else if (c === 'D' && (this.peek(1) === 't' || this.peek(1) === 'T')) {
        if (soFar) throw new Unsupported('decltype after prefix');
        soFar = this.decltype();
      } else if (c === 'S') {
        if (this.peek(1) === 't') {
          this.pos += 2;
          if (soFar) throw new Unsupported('std after prefix');
          soFar = { k: 'name', s: 'std' };
          continue;
        }
        if (soFar) throw new Unsupported('substitution after prefix');
        soFar = this.substitution();
        continue; // a substitution is not added again
      } else {
        soFar = this.unqualifiedName(state, soFar);
      }
      this.subs.push(soFar);
      this.eat('M'); // <data-member-prefix> of a lambda in a member initializer
    }
    if (!soFar) throw new Unsupported('empty nested name');
    this.subs.pop(); // the whole name is not a prefix of itself
    return soFar;
  }

  // <local-name> ::= Z <function encoding> E <entity name> [<discriminator>] | Z <encoding> E s [<discriminator>]
  private localName(state: NameState | null): Node {
    this.expect('Z');
    const enc = this.encoding();
    // The enclosing function is named without its return type (as c++filt does).
    if (enc.k === 'encoding') enc.ret = null;
    this.expect('E');
    if (this.eat('s')) {
      this.discriminator();
      return { k: 'local', enc, entity: { k: 'name', s: 'string literal' } };
    }
    if (this.eat('d')) {
      const n = this.peek() === '_' ? 1 : this.number() + 2;
      this.expect('_');
      const inner = this.name(state);
      return { k: 'local', enc, entity: { k: 'nested', prefix: { k: 'name', s: `{default arg#${n}}` }, name: inner } };
    }
    const entity = this.name(state);
    this.discriminator();
    return { k: 'local', enc, entity };
  }

  private unqualifiedName(state: NameState | null, prefix: Node | null): Node {
    const c = this.peek();
    let name: Node;
    if (/\d/.test(c)) {
      name = { k: 'name', s: this.sourceName() };
    } else if (c === 'L') {
      // GCC marks internal-linkage names with L: `_ZL3foov`.
      this.pos++;
      name = { k: 'name', s: this.sourceName() };
      this.discriminator();
    } else if (c === 'C' || (c === 'D' && /[0-5]/.test(this.peek(1)))) {
      if (!prefix) throw new Unsupported('ctor/dtor without a class');
      const dtor = c === 'D';
      this.pos++;
      if (!dtor && this.eat('I')) {
        this.pos++;
        this.type(); // inheriting constructor: the base class
      } else {
        this.pos++;
      }
      if (state) state.ctorDtorConversion = true;
      if (prefix.k === 'std') {
        // c++filt spells a std:: abbreviation in full when a constructor follows.
        const expanded: Node = { k: 'name', s: prefix.full };
        return this.abiTags({ k: 'nested', prefix: expanded, name: { k: 'ctor', base: { k: 'name', s: prefix.base }, dtor } });
      }
      name = { k: 'ctor', base: prefix, dtor };
    } else if (c === 'U') {
      name = this.unnamedTypeName();
    } else if (c === 'D' && this.peek(1) === 'C') {
      this.pos += 2;
      const parts: string[] = [];
      while (!this.eat('E')) parts.push(this.sourceName());
      name = { k: 'name', s: `[${parts.join(', ')}]` };
    } else if (/[a-z]/.test(c)) {
      name = this.operatorName(state);
    } else {
      throw new Unsupported(`unqualified name at ${this.pos}`);
    }
    name = this.abiTags(name);
    return prefix ? { k: 'nested', prefix, name } : name;
  }

  private abiTags(n: Node): Node {
    let out = n;
    while (this.eat('B')) out = { k: 'abi', child: out, tag: this.sourceName() };
    return out;
  }

  // <unnamed-type-name> ::= Ut [<number>] _ | Ul <lambda-sig> E [<number>] _
  private unnamedTypeName(): Node {
    if (this.eat('Ut')) {
      const n = this.peek() === '_' ? 1 : this.number() + 2;
      this.expect('_');
      return { k: 'name', s: `{unnamed type#${n}}` };
    }
    if (this.eat('Ul')) {
      this.inLambda++;
      const params: Node[] = [];
      try {
        // C++20 template parameter declarations of generic lambdas are skipped.
        while (this.peek() === 'T' && /[ynt]/.test(this.peek(1))) {
          if (this.eat('Ty')) continue;
          if (this.eat('Tn')) {
            this.type();
            continue;
          }
          throw new Unsupported('lambda template template parameter');
        }
        if (!this.eat('v')) while (this.peek() !== 'E' && this.pos < this.s.length) params.push(this.type());
      } finally {
        this.inLambda--;
      }
      this.expect('E');
      const n = this.peek() === '_' ? 1 : this.number() + 2;
      this.expect('_');
      return { k: 'lambda', params, n };
    }
    throw new Unsupported('vendor qualifier');
  }

  private operatorName(state: NameState | null): Node {
    const code = this.s.slice(this.pos, this.pos + 2);
    if (code === 'cv') {
      this.pos += 2;
      if (state) state.ctorDtorConversion = true;
      return { k: 'conv', type: this.type() };
    }
    if (code === 'li') {
      this.pos += 2;
      return { k: 'name', s: `operator"" ${this.sourceName()}` };
    }
    if (code[0] === 'v' && /\d/.test(code[1] ?? '')) {
      this.pos += 2;
      return { k: 'name', s: `operator ${this.sourceName()}` };
    }
    const op = OPERATORS.get(code);
    if (op === undefined) throw new Unsupported(`operator ${code}`);
    this.pos += 2;
    return { k: 'name', s: `operator${op}` };
  }

  private cvQualifiers(): string {
    let r = false;
    let v = false;
    let k = false;
    if (this.eat('r')) r = true;
    if (this.eat('V')) v = true;
    if (this.eat('K')) k = true;
    return `${k ? ' const' : ''}${v ? ' volatile' : ''}${r ? ' restrict' : ''}`;
  }

  // <substitution> ::= S_ | S <seq-id> _ | Sa | Sb | Ss | Si | So | Sd
  private substitution(): Node {
    this.expect('S');
    const std = STD_SUBST.get(this.peek());
    if (std) {
      this.pos++;
      return { k: 'std', ...std };
    }
    let index = 0;
    if (!this.eat('_')) {
      let seq = 0;
      let digits = 0;
      while (/[0-9A-Z]/.test(this.peek())) {
        seq = seq * 36 + parseInt(this.peek(), 36);
        this.pos++;
        if (++digits > 8) throw new Unsupported('substitution index too long');
      }
      if (digits === 0) throw new Unsupported('bad substitution');
      this.expect('_');
      index = seq + 1;
    }
    const n = this.subs[index];
    if (!n) throw new Unsupported(`substitution ${index} not defined`);
    return n;
  }

  // <template-param> ::= T_ | T <number> _
  private templateParam(): Node {
    this.expect('T');
    const index = this.peek() === '_' ? 0 : this.number() + 1;
    this.expect('_');
    // In a lambda's signature T_ is one of its invented `auto` parameters, bound only when printed.
    return { k: 'tparam', index, bound: this.inLambda > 0 ? undefined : this.templateParams[index] };
  }

  // <template-args> ::= I <template-arg>+ E
  private templateArgs(tagTemplates: boolean): Node[] {
    this.expect('I');
    const args: Node[] = [];
    while (!this.eat('E')) {
      if (this.pos >= this.s.length) throw new Unsupported('unterminated template args');
      args.push(this.templateArg());
    }
    // Arguments of the outermost name become what T_ means in the rest of the encoding.
    if (tagTemplates) this.templateParams = args;
    return args;
  }

  private templateArg(): Node {
    this.enter();
    try {
      const c = this.peek();
      if (c === 'X') {
        this.pos++;
        const e = this.expression();
        this.expect('E');
        return e;
      }
      if (c === 'L') return this.exprPrimary();
      if (c === 'J') {
        this.pos++;
        const items: Node[] = [];
        while (!this.eat('E')) {
          if (this.pos >= this.s.length) throw new Unsupported('unterminated pack');
          items.push(this.templateArg());
        }
        return { k: 'pack', items };
      }
      return this.type();
    } finally {
      this.depth--;
    }
  }

  // <expr-primary> ::= L <type> <value> E | L _Z <encoding> E
  private exprPrimary(): Node {
    this.expect('L');
    if (this.eat('_Z') || this.eat('Z')) {
      const enc = this.encoding();
      this.expect('E');
      return enc;
    }
    const typeStart = this.pos;
    const type = this.type();
    const typeCode = this.s.slice(typeStart, this.pos);
    const end = this.s.indexOf('E', this.pos);
    if (end < 0) throw new Unsupported('unterminated literal');
    const raw = this.s.slice(this.pos, end);
    this.pos = end + 1;
    const value = raw.startsWith('n') ? `-${raw.slice(1)}` : raw;
    if (typeCode === 'b' && (raw === '0' || raw === '1')) return { k: 'expr', s: raw === '1' ? 'true' : 'false' };
    const suffix = LITERAL_SUFFIX.get(typeCode);
    if (suffix !== undefined) return { k: 'expr', s: `${value}${suffix}` };
    if (typeCode === 'Dn') return { k: 'expr', s: 'nullptr' };
    return { k: 'expr', s: `(${this.print(type, true)})${value}` };
  }

  // The common expression forms of template arguments and decltype; anything else is unsupported.
  private expression(): Node {
    this.enter();
    try {
      const c = this.peek();
      if (c === 'L') return this.exprPrimary();
      if (c === 'T') return this.templateParam();
      if (this.eat('fp')) {
        this.cvQualifiers();
        const n = this.peek() === '_' ? 1 : this.number() + 2;
        this.expect('_');
        return { k: 'name', s: `{parm#${n}}` };
      }
      if (this.eat('sr')) {
        const t = this.type();
        const name = this.unqualifiedName(null, null);
        const withArgs = this.peek() === 'I' ? { k: 'template' as const, name, args: this.templateArgs(false) } : name;
        return { k: 'nested', prefix: t, name: withArgs };
      }
      if (this.eat('st')) return { k: 'name', s: `sizeof (${this.print(this.type(), true)})` };
      if (this.eat('sz')) return { k: 'name', s: `sizeof (${this.print(this.expression(), true)})` };
      if (this.eat('sZ')) {
        // The length of a known pack is printed as a number, as c++filt does.
        return { k: 'packsize', param: this.templateParam() };
      }
      const code = this.s.slice(this.pos, this.pos + 2);
      if (BINARY_EXPR.has(code)) {
        this.pos += 2;
        const a = this.expression();
        const b = this.expression();
        return { k: 'expr', s: `${this.subexpr(a)}${OPERATORS.get(code)!.trim()}${this.subexpr(b)}` };
      }
      if (code === 'ad') {
        // `&f` of a function names it without its parameters, as c++filt prints template arguments.
        this.pos += 2;
        const operand = this.expression();
        const nameOnly = operand.k === 'encoding' && operand.name.k === 'nested' && !operand.cv && !operand.ref;
        return { k: 'expr', s: `&${nameOnly ? this.print(operand.name, true) : this.subexpr(operand)}` };
      }
      if (code === 'ng' || code === 'nt' || code === 'co') {
        this.pos += 2;
        return { k: 'expr', s: `${OPERATORS.get(code)!}${this.subexpr(this.expression())}` };
      }
      throw new Unsupported(`expression ${code}`);
    } finally {
      this.depth--;
    }
  }

  private subexpr(n: Node): string {
    const text = this.print(n, true);
    return n.k === 'name' || n.k === 'nested' ? text : `(${text})`;
  }

  private decltype(): Node {
    this.expect('D');
    if (!this.eat('t') && !this.eat('T')) throw new Unsupported('decltype');
    const e = this.expression();
    this.expect('E');
    return { k: 'name', s: `decltype (${this.print(e, true)})` };
  }

  // <type>; every type that is not a builtin becomes a substitution candidate.
  type(): Node {
    this.enter();
    try {
      const c = this.peek();
      let result: Node;
      const builtin = BUILTIN.get(c);
      if (builtin !== undefined) {
        this.pos++;
        return { k: 'name', s: builtin };
      }
      switch (c) {
        case 'r':
        case 'V':
        case 'K': {
          const afterQuals = /^r?V?K?/.exec(this.s.slice(this.pos, this.pos + 3))![0].length;
          const rest = this.s.slice(this.pos + afterQuals, this.pos + afterQuals + 2);
          if (rest[0] === 'F' || rest === 'Do' || rest === 'DO' || rest === 'Dw' || rest === 'Dx') {
            result = this.functionType();
            break;
          }
          const quals = this.cvQualifiers();
          const child = this.type();
          result = { k: 'qual', child, quals };
          break;
        }
        case 'P':
          this.pos++;
          result = { k: 'ptr', child: this.type(), sym: '*' };
          break;
        case 'R':
          this.pos++;
          result = { k: 'ptr', child: this.type(), sym: '&' };
          break;
        case 'O':
          this.pos++;
          result = { k: 'ptr', child: this.type(), sym: '&&' };
          break;
        case 'C':
          this.pos++;
          result = { k: 'qual', child: this.type(), quals: ' _Complex' };
          break;
        case 'G':
          this.pos++;
          result = { k: 'qual', child: this.type(), quals: ' _Imaginary' };
          break;
        case 'F':
          result = this.functionType();
          break;
        case 'A':
          result = this.arrayType();
          break;
        case 'M': {
          this.pos++;
          const cls = this.type();
          const member = this.type();
          result = { k: 'memptr', cls, member };
          break;
        }
        case 'T': {
          if (/[sue]/.test(this.peek(1))) {
            this.pos += 2;
            result = this.name(null);
            break;
          }
          result = this.templateParam();
          if (this.peek() === 'I') {
            this.subs.push(result);
            result = { k: 'template', name: result, args: this.templateArgs(false) };
          }
          break;
        }
        case 'D': {
          const d = this.peek(1);
          const named = BUILTIN_D.get(d);
          if (named !== undefined) {
            this.pos += 2;
            return { k: 'name', s: named };
          }
          if (d === 'F') {
            this.pos += 2;
            const bits = this.number();
            const x = this.eat('x') ? 'x' : '';
            this.expect('_');
            return { k: 'name', s: `_Float${bits}${x}` };
          }
          if (d === 'p') {
            this.pos += 2;
            result = { k: 'expansion', child: this.type() };
            break;
          }
          if (d === 't' || d === 'T') {
            result = this.decltype();
            break;
          }
          if (d === 'v') {
            this.pos += 2;
            const dim = this.peek() === '_' ? '' : String(this.number());
            this.expect('_');
            result = { k: 'vector', child: this.type(), dim };
            break;
          }
          if (d === 'x' || d === 'o' || d === 'O' || d === 'w') {
            result = this.functionType();
            break;
          }
          throw new Unsupported(`type D${d}`);
        }
        case 'u': {
          this.pos++;
          return { k: 'name', s: this.sourceName() };
        }
        case 'S': {
          if (this.peek(1) !== 't') {
            result = this.substitution();
            if (this.peek() === 'I') {
              result = { k: 'template', name: result, args: this.templateArgs(false) };
              break;
            }
            return result;
          }
          result = this.name(null);
          break;
        }
        default:
          if (c === 'N' || c === 'Z' || /\d/.test(c)) {
            result = this.name(null);
            break;
          }
          throw new Unsupported(`type ${c} at ${this.pos}`);
      }
      this.subs.push(result);
      return result;
    } finally {
      this.depth--;
    }
  }

  // <function-type> ::= [<CV-qualifiers>] [Dx] F [Y] <bare-function-type> [<ref-qualifier>] E
  private functionType(): Node {
    // A cv-qualified function type is one substitution candidate, not two.
    const cv = this.cvQualifiers();
    let exc = '';
    if (this.eat('Do')) exc = ' noexcept';
    else if (this.eat('Dx')) {
      // transaction_safe: not printed
    } else if (this.eat('DO')) {
      exc = ` noexcept(${this.print(this.expression(), true)})`;
      this.expect('E');
    } else if (this.eat('Dw')) {
      const types: string[] = [];
      while (!this.eat('E')) {
        if (this.pos >= this.s.length) throw new Unsupported('unterminated throw spec');
        types.push(this.print(this.type(), true));
      }
      exc = ` throw(${types.join(', ')})`;
    }
    this.expect('F');
    this.eat('Y');
    const ret = this.type();
    const params: Node[] = [];
    let ref = '';
    for (;;) {
      if (this.eat('E')) break;
      if (this.peek() === 'R' && this.peek(1) === 'E') {
        this.pos += 2;
        ref = ' &';
        break;
      }
      if (this.peek() === 'O' && this.peek(1) === 'E') {
        this.pos += 2;
        ref = ' &&';
        break;
      }
      if (this.pos >= this.s.length) throw new Unsupported('unterminated function type');
      if (this.eat('v') && params.length === 0 && this.peek() === 'E') continue;
      params.push(this.type());
    }
    return { k: 'fn', ret, params, cv, ref, exc };
  }

  // <array-type> ::= A <number> _ <type> | A [<expression>] _ <type>
  private arrayType(): Node {
    this.expect('A');
    let dim = '';
    if (/\d/.test(this.peek())) dim = String(this.number());
    else if (this.peek() !== '_') dim = this.print(this.expression(), true);
    this.expect('_');
    return { k: 'array', child: this.type(), dim };
  }

  // ---- printing ----

  /**
   * What substituting template arguments produces, spelled as C++ does: references to references
   * collapse (`T&&` with T = `int&` is `int&`), qualifiers merge (`T const` with T = `char const`), and
   * a qualified array is an array of qualified elements (`char const (&) [11]`).
   */
  private normalize(node: Node): Node {
      const n = this.resolve(node);
    if (n.k === 'ptr' && (n.sym === '&' || n.sym === '&&')) {
      let sym = n.sym;
      let child = n.child;
      for (let i = 0; i < 64 && (child = this.resolve(child)).k === 'ptr' && (child.sym === '&' || child.sym === '&&'); i++) {
        if (child.sym === '&') sym = '&';
        child = child.child;
      }
      return child === n.child && sym === n.sym ? n : { k: 'ptr', child, sym };
    }
    if (n.k === 'qual') {
      let child = n.child;
      let quals = n.quals;
      for (let i = 0; i < 64 && (child = this.resolve(child)).k === 'qual'; i++) {
        quals = mergeQuals(quals, child.quals);
        child = child.child;
      }
      if (child.k === 'array') return { k: 'array', child: this.normalize({ k: 'qual', child: child.child, quals }), dim: child.dim };
      return child === n.child && quals === n.quals ? n : { k: 'qual', child, quals };
    }
    return n;
  }

  /** What a template parameter or pack stands for at this point of printing. */
  private resolve(node: Node): Node {
    let n = node;
    for (let i = 0; i < 64; i++) {
      if (n.k === 'pack' && this.packElement.has(n)) n = this.packElement.get(n)!;
      else if (n.k === 'tparam' && this.lambdaSig === 0) {
        const r = this.printTemplates.at(-1)?.[n.index] ?? n.bound;
        if (!r) return n;
        n = r;
      } else return n;
    }
    throw new Unsupported('template parameters refer to each other');
  }


  print(n: Node, params: boolean): string {
    const norm = this.normalize(n);
    const out = this.left(norm, params) + this.right(norm, params);
    this.printed += out.length;
    if (out.length > MAX_OUTPUT || this.printed > MAX_PRINT_WORK) throw new Unsupported('name too long');
    return out;
  }

  private list(items: Node[], params: boolean): string {
    return this.listTail(items, params).text;
  }

  /**
   * Comma-separated items; an empty pack prints nothing and takes its comma back. `spaceLast` says
   * the last thing written was such a comma: c++filt then sees ' ' as the last character and writes
   * `>>` instead of `> >`, which matters when comparing with its output.
   */
  private listTail(items: Node[], params: boolean): { text: string; spaceLast: boolean } {
    let text = '';
    let spaceLast = false;
    for (const [i, item] of items.entries()) {
      let part: string;
      let innerSpace = false;
      if (item.k === 'pack' && !this.packElement.has(item)) {
        const inner = this.listTail(item.items, params);
        part = inner.text;
        innerSpace = inner.spaceLast;
      } else part = this.print(item, params);
      if (i > 0 && part === '') {
        spaceLast = true;
        continue;
      }
      text += i > 0 ? `, ${part}` : part;
      spaceLast = innerSpace || (part === '' && spaceLast);
    }
    return { text, spaceLast };
  }

  private templateList(args: Node[], params: boolean): string {
    const inner = this.listTail(args, params);
    return `<${inner.text}${inner.text.endsWith('>') && !inner.spaceLast ? ' ' : ''}>`;
  }

  private left(node: Node, p: boolean): string {
    this.enter();
    try {
      const n = this.normalize(node);
      switch (n.k) {
        case 'name':
        case 'expr':
          return n.s;
        case 'std':
          return n.short;
        case 'nested':
          return `${this.print(n.prefix, p)}::${this.print(n.name, p)}`;
        case 'template': {
          const name = this.print(n.name, p);
          // `operator<` followed by `<int>` needs a space to stay readable (as c++filt prints it).
          return `${name}${name.endsWith('<') ? ' ' : ''}${this.templateList(n.args, p)}`;
        }
        case 'qual':
          return n.child.k === 'fn' ? this.left(n.child, p) : `${this.left(n.child, p)}${n.quals}`;
        case 'ptr': {
          const inner = this.stripQual(n.child);
          const wrap = inner.k === 'fn' || inner.k === 'array';
          return `${this.left(n.child, p)}${inner.k === 'array' ? ' ' : ''}${wrap ? '(' : ''}${n.sym}`;
        }
        case 'fn':
          return n.ret ? `${this.left(n.ret, p)} ` : '';
        case 'array':
          return this.left(n.child, p);
        case 'memptr': {
          const inner = this.stripQual(n.member);
          const wrap = inner.k === 'fn' || inner.k === 'array';
          return `${this.left(n.member, p)}${wrap ? '(' : ' '}${this.print(n.cls, p)}::*`;
        }
        case 'vector':
          return `${this.print(n.child, p)} __vector(${n.dim})`;
        case 'expansion':
          return this.expansion(n.child, p);
        case 'pack': {
          const one = this.packElement.get(n);
          return one ? this.print(one, p) : this.list(n.items, p);
        }
        case 'encoding': {
          // T_ in the signature means this function's own template arguments.
          let named = n.name;
          if (named.k === 'local') named = named.entity;
          if (named.k === 'template') this.printTemplates.push(named.args);
          try {
            const name = this.print(n.name, p);
            if (!p) return name;
            const ret = n.ret ? `${this.print(n.ret, p)} ` : '';
            return `${ret}${name}(${this.params(n.params)})${n.cv}${n.ref}`;
          } finally {
            if (named.k === 'template') this.printTemplates.pop();
          }
        }
        case 'tparam':
          if (this.lambdaSig > 0) return `auto:${n.index + 1}`;
          throw new Unsupported('template parameter without a binding');
        case 'packsize': {
          const pack = this.resolve(n.param);
          return pack.k === 'pack' ? String(pack.items.length) : `sizeof...(${this.print(n.param, p)})`;
        }
        case 'special':
          return `${n.text}${this.print(n.child, p)}`;
        case 'local':
          return `${this.print(n.enc, p)}::${this.print(n.entity, p)}`;
        case 'ctor':
          return `${n.dtor ? '~' : ''}${this.baseName(n.base)}`;
        case 'abi':
          return `${this.print(n.child, p)}[abi:${n.tag}]`;
        case 'conv':
          return `operator ${this.print(n.type, true)}`;
        case 'lambda': {
          this.lambdaSig++;
          try {
            return `{lambda(${this.params(n.params)})#${n.n}}`;
          } finally {
            this.lambdaSig--;
          }
        }
        case 'clone':
          return `${this.print(n.child, p)} [clone ${n.suffix}]`;
      }
    } finally {
      this.depth--;
    }
  }

  private right(node: Node, p: boolean): string {
    const n = this.normalize(node);
    switch (n.k) {
      case 'qual':
        return n.child.k === 'fn' ? `${this.right(n.child, p)}${n.quals}` : this.right(n.child, p);
      case 'ptr': {
        const inner = this.stripQual(n.child);
        return `${inner.k === 'fn' || inner.k === 'array' ? ')' : ''}${this.right(n.child, p)}`;
      }
      case 'memptr': {
        const inner = this.stripQual(n.member);
        return `${inner.k === 'fn' || inner.k === 'array' ? ')' : ''}${this.right(n.member, p)}`;
      }
      case 'fn':
        return `(${this.params(n.params)})${n.cv}${n.ref}${n.exc}${n.ret ? this.right(n.ret, p) : ''}`;
      case 'array': {
        let out = ` [${n.dim}]`;
        let child = n.child;
        while (child.k === 'array') {
          out += `[${child.dim}]`;
          child = child.child;
        }
        return out + this.right(child, p);
      }
      default:
        return '';
    }
  }

  /** The argument pack a pack expansion repeats over, looking through pointers, qualifiers and templates. */
  private findPack(node: Node, depth = 0): (Node & { k: 'pack' }) | undefined {
    if (depth > 32) return undefined;
    const n = this.resolve(node);
    switch (n.k) {
      case 'pack':
        return n;
      case 'ptr':
      case 'qual':
      case 'array':
      case 'vector':
        return this.findPack(n.child, depth + 1);
      case 'template':
        for (const a of n.args) {
          const found = this.findPack(a, depth + 1);
          if (found) return found;
        }
        return undefined;
      default:
        return undefined;
    }
  }

  /** `Dp T_` where T_ is the pack <int, double> prints each element: `int, double` (and `int*, double*` for `Dp PT_`). */
  private expansion(child: Node, p: boolean): string {
    const pack = this.findPack(child);
    if (!pack) return `${this.print(child, p)}...`;
    const parts: string[] = [];
    for (const item of pack.items) {
      this.packElement.set(pack, item);
      try {
        parts.push(this.print(child, p));
      } finally {
        this.packElement.delete(pack);
      }
    }
    return parts.join(', ');
  }

  private params(params: Node[]): string {
    if (params.length === 1 && params[0]!.k === 'name' && params[0]!.s === 'void') return '';
    return this.list(params, true);
  }

  private stripQual(n: Node): Node {
    let x = this.normalize(n);
    for (let i = 0; i < 64 && x.k === 'qual'; i++) x = this.normalize(x.child);
    return x;
  }

  /** A constructor's name: the class's own name without namespace or template arguments. */
  private baseName(n: Node): string {
    switch (n.k) {
      case 'nested':
        return this.baseName(n.name);
      case 'template':
        return this.baseName(n.name);
      case 'abi':
        return this.baseName(n.child);
      case 'std':
        return n.base;
      default:
        return this.print(n, true);
    }
  }
}

function mergeQuals(a: string, b: string): string {
  const all = new Set([...a.split(' '), ...b.split(' ')].filter(Boolean));
  return ['const', 'volatile', 'restrict', '_Complex', '_Imaginary'].filter((q) => all.has(q)).map((q) => ` ${q}`).join('');
}

/** Demangles an Itanium C++ name (`_Z…`); `undefined` when it is not one or uses unsupported forms. */
export function demangleItanium(mangled: string, options: ItaniumOptions = {}): string | undefined {
  if (!mangled.startsWith('_Z') || mangled.length > MAX_OUTPUT) return undefined;
  const params = options.params ?? false;
  try {
    const parser = new Parser(mangled);
    const node = parser.mangled(params);
    // A well-formed name is consumed whole, except a vendor suffix c++filt also leaves out.
    if (parser.pos < mangled.length && mangled[parser.pos] !== '.') return undefined;
    return parser.print(node, params);
  } catch (err) {
    if (err instanceof Unsupported || err instanceof RangeError) return undefined;
    throw err;
  }
}
