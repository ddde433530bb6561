// parseFields (offsets into the head's text, names and values made when read) against the parser
// it replaced, kept here as the oracle: the eager parse into [name, value] pairs. For random field
// sections, valid and broken, both must accept the same ones, list the same fields, and every
// lookup must give the oracle's first value and all its values.
import t from 'tap';
import type { HeaderList } from '../../../src/model/http.js';
import { parseFields } from '../../../src/protocols/http1/fields.js';
import { FIELD_NAMES } from '../../../src/protocols/http1/tokens.js';
import { XorShift32 } from '../../helpers/prng.js';

const TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const isTchar = (c: string): boolean => TCHARS.includes(c);
const isOws = (c: string | undefined): boolean => c === ' ' || c === '\t';

/** The eager parse of commit 56217aa (RFC 9112 §5, §5.2; RFC 9110 §5.5), written plainly. */
function oracle(text: string, from: number): HeaderList | null {
  if (text.includes('\0', from)) return null;
  const out: HeaderList = [];
  let i = from;
  while (i < text.length) {
    let eol = text.indexOf('\r', i);
    if (eol < 0) eol = text.length;
    else if (text[eol + 1] !== '\n') return null;
    const lf = text.indexOf('\n', i);
    if (lf >= 0 && lf !== eol + 1) return null;
    let a = i;
    const fold = isOws(text[i]);
    if (fold) {
      if (out.length === 0) return null;
    } else {
      while (a < eol && isTchar(text[a]!)) a++;
      if (a === i || a === eol || text[a] !== ':') return null;
      out.push([text.slice(i, a).toLowerCase(), '']);
      a++;
    }
    let b = eol;
    while (a < b && isOws(text[a])) a++;
    while (b > a && isOws(text[b - 1])) b--;
    const field = out[out.length - 1]!;
    if (a < b) field[1] = field[1] === '' ? text.slice(a, b) : `${field[1]} ${text.slice(a, b)}`;
    i = eol + 2;
  }
  return out;
}

/** Names the conventions and the framing look up, others, and ones that differ only where a careless case fold would not ('^' vs '~', '_' vs DEL). */
const POOL = [...FIELD_NAMES, 'x-request-id', 'x-a^b', 'x-a~b', 'x_y', 'depth', 'a', 'z', "x-!#$%&'*+.`|~"];

function anyCase(r: XorShift32, s: string): string {
  return [...s].map((c) => (r.chance(0.3) ? c.toUpperCase() : c)).join('');
}

function ows(r: XorShift32): string {
  return r.chance(0.5) ? '' : r.pick([' ', '  ', '\t', ' \t ']);
}

function value(r: XorShift32): string {
  let v = '';
  for (let n = r.int(24); n > 0; n--) {
    const c = r.chance(0.8) ? 0x20 + r.int(0x5f) : 0x80 + r.int(0x80); // latin1 octets beyond ASCII too (obs-text)
    v += String.fromCharCode(c);
  }
  return v;
}

function line(r: XorShift32): string {
  const roll = r.int(100);
  if (roll < 10) return `${r.pick([' ', '\t'])}${value(r)}${ows(r)}`; // obs-fold
  const name = roll < 80 ? anyCase(r, r.pick(POOL)) : [...Array(1 + r.int(10))].map(() => r.pick([...TCHARS])).join('');
  return `${name}:${ows(r)}${value(r)}${ows(r)}`;
}

/** One way to break a field section (or none). */
function damage(r: XorShift32, text: string): string {
  if (text.length === 0 || !r.chance(0.25)) return text;
  const at = r.int(text.length);
  const bad = r.pick(['\0', '\r', '\n', ' :', ':', '\r\n\r\n', '\r\n ', '@']);
  return text.slice(0, at) + bad + text.slice(at);
}

t.test('random field sections: the same fields and lookups as the eager parse', async (t) => {
  let accepted = 0;
  let rejected = 0;
  for (let seed = 1; seed <= 3000; seed++) {
    const r = new XorShift32(seed);
    const lines = Array.from({ length: r.int(9) }, () => line(r));
    const prefix = r.chance(0.5) ? 'GET / HTTP/1.1\r\n' : '';
    const text = prefix + damage(r, lines.join('\r\n'));
    const want = oracle(text, prefix.length);
    const got = parseFields(text, prefix.length);
    if (want === null) {
      rejected++;
      if (got !== null) t.fail(`seed ${seed}: accepted ${JSON.stringify(text)}`);
      continue;
    }
    accepted++;
    if (got === null) {
      t.fail(`seed ${seed}: rejected ${JSON.stringify(text)}`);
      continue;
    }
    const ctx = `seed ${seed}: ${JSON.stringify(text)}`;
    if (got.length !== want.length || JSON.stringify([...got]) !== JSON.stringify(want)) t.fail(`${ctx}: fields ${JSON.stringify([...got])}`);
    // Twice, the second time in another order: a value found is remembered (for the first names
    // asked, more than the fields remember), and must be what a scan finds.
    const names = [...new Set([...POOL, ...want.map(([n]) => n)])];
    for (const pass of [names, r.shuffle([...names])]) {
      for (const name of pass) {
        const all = want.filter(([n]) => n === name).map(([, v]) => v);
        const value = got.get(name);
        if (value !== all[0]) t.fail(`${ctx}: get(${name}) = ${value}${pass === names ? '' : ' (asked again)'}`);
        if (JSON.stringify(got.getAll(name)) !== JSON.stringify(all)) t.fail(`${ctx}: getAll(${name})`);
      }
    }
  }
  t.ok(accepted > 1500 && rejected > 300, `both kinds covered (${accepted} accepted, ${rejected} rejected)`);
});

t.test('lookups fold only the case of letters', async (t) => {
  const f = parseFields('X-A^B: caret\r\nHOST: h\r\nX_Y: under', 0)!;
  t.equal(f.get('x-a^b'), 'caret');
  t.equal(f.get('x-a~b'), undefined, "'^' is not a case of '~'");
  t.equal(f.get('host'), 'h');
  t.equal(f.get('x_y'), 'under');
  t.equal(f.get('x\x7fy'), undefined, "'_' is not a case of DEL");
  t.same(f.toJSON(), [['x-a^b', 'caret'], ['host', 'h'], ['x_y', 'under']]);
});

t.test('no fields', async (t) => {
  const f = parseFields('GET / HTTP/1.1', 14)!;
  t.equal(f.length, 0);
  t.equal(f.get('host'), undefined);
  t.same([...f], []);
});
