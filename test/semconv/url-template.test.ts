// url.template from a path's shape (src/semconv/url-template.ts): the shapes, and two properties over
// random paths — no digit run of MAX_DIGIT_RUN or more and no UUID survives into a template, and no
// resource ever holds more than its limit.
import t from 'tap';
import { MAX_DIGIT_RUN, OVERFLOW_TEMPLATE, pathTemplate, segmentPlaceholder, urlTemplater } from '../../src/semconv/url-template.js';
import { XorShift32 } from '../helpers/prng.js';

t.test('shapes: values become placeholders, names stay', async (t) => {
  // path → template
  const cases = new Map<string, string>([
    ['/users/123', '/users/{id}'], ['/users/123/orders/9', '/users/{id}/orders/{id}'],
    ['/o/6f1c0a9e4b7d2c35a8e1', '/o/{hash}'], ['/o/DEADBEEFCAFEF00D1234', '/o/{hash}'],
    ['/items/0b9e3c4a-1f2d-4e5f-8a9b-0c1d2e3f4a5b', '/items/{uuid}'], ['/items/order-0b9e3c4a-1f2d-4e5f-8a9b-0c1d2e3f4a5b', '/items/{id}'],
    ['/reset/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl', '/reset/{token}'], ['/dl/Xk9_aQ2-bR7pLm3NzT4vYw', '/dl/{token}'],
    ['/users/bob@example.com/prefs', '/users/{email}/prefs'], ['/users/bob%40example.com', '/users/{email}'],
    ['/reports/2024-01-31', '/reports/{date}'], ['/reports/2024-01-31T10:00:00Z', '/reports/{date}'],
    ['/files/invoice-20240131.pdf', '/files/{id}'], ['/v2/api/mp3/index.html', '/v2/api/mp3/index.html'],
    ['/static/bootstrap-5.3.2.bundle.min.js', '/static/bootstrap-5.3.2.bundle.min.js'], ['/docs/getting-started-with-the-collector', '/docs/getting-started-with-the-collector'],
    ['/', '/'], ['/a//b/', '/a//b/'],
    ['', ''],
  ]);
  for (const [path, template] of cases) t.equal(pathTemplate(path), template, path);
  t.equal(segmentPlaceholder('SKU-1A2B', [{ name: 'sku', pattern: /^SKU-[0-9A-Z]+$/ }]), '{sku}', 'configured patterns first');
  t.equal(pathTemplate('/p/SKU-1A2B/42', [{ name: 'sku', pattern: /^SKU-[0-9A-Z]+$/ }]), '/p/{sku}/{id}');
});

t.test('the limit per resource: overflow past it, counted; other resources have their own', async (t) => {
  const tp = urlTemplater({ limit: 3 });
  t.equal(tp.template('/a/1', 'r1'), '/a/{id}');
  t.equal(tp.template('/b/1', 'r1'), '/b/{id}');
  t.equal(tp.template('/c', 'r1'), '/c');
  t.equal(tp.template('/d', 'r1'), OVERFLOW_TEMPLATE);
  t.equal(tp.template('/a/2', 'r1'), '/a/{id}', 'a held template is still given');
  t.equal(tp.template('/d', 'r2'), '/d', 'another resource has its own limit');
  t.same(tp.stats(), { url_templates: 4, url_templates_overflow: 1 });
});

const HEX = '0123456789abcdef';
const WORDS = ['users', 'orders', 'api', 'v1', 'v2', 'items', 'static', 'files', 'search', 'mp3', 'a', 'x9', 'id'];

function randomSegment(r: XorShift32): string {
  const hex = (n: number): string => Array.from({ length: n }, () => HEX[r.int(16)]).join('');
  switch (r.int(9)) {
    case 0: return String(r.next());
    case 1: return `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;
    case 2: return hex(16 + r.int(48));
    case 3: return `${r.pick(WORDS)}-${String(r.next()).padStart(4, '7')}.${r.pick(['pdf', 'json', 'png'])}`;
    case 4: return `${r.pick(WORDS)}_${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;
    case 5: return r.bytes(12 + r.int(30)).toString('base64url');
    case 6: return `u${r.int(100000)}@example.com`;
    case 7: return `${r.pick(WORDS)}${r.int(10)}${r.pick(WORDS)}${r.next()}`;
    default: return r.pick(WORDS);
  }
}

function randomPath(r: XorShift32): string {
  return `/${Array.from({ length: 1 + r.int(5) }, () => randomSegment(r)).join('/')}`;
}

const DIGIT_RUN = new RegExp(`[0-9]{${MAX_DIGIT_RUN},}`);
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

t.test('property: no digit run of MAX_DIGIT_RUN or more, no UUID, no 16+ hex run in any template', async (t) => {
  for (const seed of [1, 2, 3, 0xbeef, 0x5eed]) {
    const r = new XorShift32(seed);
    let bad = 0;
    for (let i = 0; i < 10_000; i++) {
      const path = randomPath(r);
      const tpl = pathTemplate(path);
      if (DIGIT_RUN.test(tpl) || UUID.test(tpl) || /[0-9a-f]{16,}/i.test(tpl)) {
        bad++;
        if (bad <= 3) t.fail(`seed ${seed}: ${path} → ${tpl}`);
      }
    }
    t.equal(bad, 0, `seed ${seed}: 10k random paths, nothing leaks`);
  }
});

t.test('property: the limit holds under 10k random paths, per resource, and every path gets an answer', async (t) => {
  const r = new XorShift32(42);
  const limit = 200;
  const tp = urlTemplater({ limit });
  const seen = new Map<string, Set<string>>();
  let overflowed = 0;
  for (let i = 0; i < 10_000; i++) {
    const resource = `r${r.int(3)}`;
    const tpl = tp.template(randomPath(r), resource);
    if (tpl === OVERFLOW_TEMPLATE) overflowed++;
    else seen.set(resource, (seen.get(resource) ?? new Set()).add(tpl));
  }
  for (const [resource, set] of seen) t.ok(set.size <= limit, `${resource}: ${set.size} templates ≤ ${limit}`);
  t.ok(overflowed > 0, 'random words make more templates than the limit: some overflow');
  t.equal(tp.stats().url_templates_overflow, overflowed, 'every overflow counted');
  t.equal(tp.stats().url_templates, [...seen.values()].reduce((n, s) => n + s.size, 0));
});

t.test('cost: a path seen before is a cache hit (100k lookups well under a second)', async (t) => {
  const tp = urlTemplater();
  const paths = Array.from({ length: 500 }, (_, i) => `/users/${i}/orders/${i * 7}`);
  const start = process.hrtime.bigint();
  for (let i = 0; i < 100_000; i++) tp.template(paths[i % 500]!, 'r');
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  t.ok(ms < 1000, `${ms.toFixed(1)} ms`);
  t.same(tp.stats(), { url_templates: 1, url_templates_overflow: 0 });
});
