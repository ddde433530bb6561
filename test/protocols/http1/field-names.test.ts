// knownFieldName against its oracle: the lower-cased text when it is one of the common names,
// else nothing; over every name in any case and every one-character change to a tchar.
import t from 'tap';
import { FIELD_NAMES, knownFieldName } from '../../../src/protocols/http1/field-names.js';

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
