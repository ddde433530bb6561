// knownFieldName and knownMethod against their oracles: for names the lower-cased text when it is
// one of the common names, else nothing, over every name in any case and every one-character change
// to a tchar; for methods the text itself, case-sensitive. sharedTarget: always the target's text,
// whatever the table holds (which string it is, JavaScript cannot tell).
import t from 'tap';
import { HTTP1_METHODS } from '../../../src/protocols/http1/detect.js';
import { FIELD_NAMES, knownFieldName, knownMethod, sharedTarget } from '../../../src/protocols/http1/tokens.js';

const TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const oracle = (name: string): string | undefined => (FIELD_NAMES.includes(name.toLowerCase()) ? name.toLowerCase() : undefined);
/** The name inside a line, as the parser sees it: found at an offset, followed by its colon. */
const lookup = (name: string): string | undefined => knownFieldName(`X: y\r\n${name}: v`, 6, 6 + name.length);

t.test('every name, in any case, is its lower-case constant', async (t) => {
  for (const n of FIELD_NAMES) {
    const title = n.replace(/(^|-)([a-z])/g, (_, d: string, c: string) => d + c.toUpperCase());
    for (const form of [n, n.toUpperCase(), title]) t.equal(lookup(form), n, form);
  }
});

t.test('every one-character change to another tchar agrees with the oracle', async (t) => {
  let checked = 0;
  for (const n of FIELD_NAMES) {
    for (let i = 0; i < n.length; i++) {
      for (const c of TCHARS) {
        const changed = n.slice(0, i) + c + n.slice(i + 1);
        if (lookup(changed) !== oracle(changed)) t.fail(`${changed}: ${lookup(changed)} ≠ ${oracle(changed)}`);
        checked++;
      }
    }
  }
  t.ok(checked > 10_000, `${checked} names checked`);
});

t.test('other names and lengths are not known', async (t) => {
  for (const n of ['x', 'hosts', 'hos', 'x-custom-header', 'content_length', 'Content~Length', 'a'.repeat(60)]) t.equal(lookup(n), undefined, n);
});

t.test('methods: exactly the known ones, case-sensitive', async (t) => {
  const method = (m: string): string | undefined => knownMethod(`${m} / HTTP/1.1`, 0, m.length);
  for (const m of HTTP1_METHODS) {
    t.equal(method(m), m, m);
    t.equal(method(m.toLowerCase()), undefined, m.toLowerCase());
    for (let i = 0; i < m.length; i++) {
      for (const c of TCHARS) {
        const changed = m.slice(0, i) + c + m.slice(i + 1);
        const want = (HTTP1_METHODS as readonly string[]).includes(changed) ? changed : undefined;
        if (method(changed) !== want) t.fail(`${changed}: ${method(changed)} ≠ ${want}`);
      }
    }
  }
  for (const m of ['PRI', 'PROPFIND', 'G', 'GETS']) t.equal(method(m), undefined, m);
});

t.test('sharedTarget: the target of every head, in and past the table, long heads too', async (t) => {
  const target = (path: string, fields = ''): string => {
    const head = `GET ${path} HTTP/1.1\r\nHost: a\r\n${fields}\r\n`;
    return sharedTarget(head, 4, 4 + path.length);
  };
  t.equal(target('/users/1'), '/users/1');
  t.equal(target('/users/1'), '/users/1', 'again, from the table');
  t.equal(target('/users/1', `Cookie: ${'x'.repeat(2000)}\r\n`), '/users/1', 'a head over the table bound');
  // Past the table's size it is emptied: the answers stay the texts.
  let wrong = 0;
  for (let i = 0; i < 10_000; i++) if (target(`/items/${i}`) !== `/items/${i}`) wrong++;
  t.equal(wrong, 0, 'ten thousand targets, each new (the table emptied twice on the way)');
  t.equal(target(''), '', 'an empty range');
});
