// Conversations recorded from real peers (test/fixtures/http2/record.mjs): grpc-go 1.85 client and
// server (the grpc-echo fixture) and h2load against nginx 1.22 over h2c. Real encoders, real frame
// batching: every exchange must come out, every header field decoded, at any split.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { type Step, runSession, timeless } from './builder.js';

function recording(name: string): Step[] {
  const path = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? `../../../../test/fixtures/http2/${name}` : `../../fixtures/http2/${name}`, import.meta.url));
  const doc = JSON.parse(readFileSync(path, 'utf8')) as { steps: Array<['request' | 'response', string]> };
  return doc.steps.map(([side, b64]) => [side, Buffer.from(b64, 'base64')]);
}

t.test('grpc-go: eight calls on one connection', async (t) => {
  const { exchanges, session } = runSession(recording('grpc-echo.json'));
  t.same(exchanges.map((e) => [e.streamId, e.grpc?.method, e.grpc?.status, e.grpc?.requestMessages, e.grpc?.responseMessages]), [
    [1, '/lantern.test.Echo/Say', 0, 1, 1],
    [3, '/lantern.test.Echo/Say', 0, 1, 1],
    [5, '/lantern.test.Echo/Say', 0, 1, 1],
    [7, '/lantern.test.Echo/Repeat', 0, 1, 3],
    [9, '/lantern.test.Echo/Say', 5, 1, 0],
    [11, '/lantern.test.Echo/Say', 13, 1, 0],
    [13, '/grpc.health.v1.Health/Check', 5, 1, 0],
    [15, '/lantern.test.Echo/Nope', 12, 1, 0],
  ]);
  t.equal(exchanges[4]?.grpc?.message, 'no such greeting: missing');
  t.ok(exchanges.every((e) => e.headersLost === undefined && e.request.version === '2' && e.response?.statusCode === 200));
  t.equal(exchanges[0]?.request.headers.get('user-agent'), 'grpc-go/1.85.0');
  const st = session.stats();
  t.equal(st.hpackLostFields, 0);
  t.equal(st.parseErrors! + st.syncLosses! + st.protocolErrors! + st.internalErrors!, 0);
});

t.test('grpc-go: split at every offset of every read, and byte by byte', async (t) => {
  const steps = recording('grpc-echo.json');
  const whole = JSON.stringify(runSession(steps).exchanges.map(timeless));
  let checked = 0;
  let differ = 0;
  for (let i = 0; i < steps.length; i++) {
    const [side, bytes] = steps[i] as ['request' | 'response', Buffer];
    for (let cut = 1; cut < bytes.length; cut++) {
      const split: Step[] = [...steps.slice(0, i), [side, bytes.subarray(0, cut)], [side, bytes.subarray(cut)], ...steps.slice(i + 1)];
      if (JSON.stringify(runSession(split).exchanges.map(timeless)) !== whole) differ++;
      checked++;
    }
  }
  t.equal(differ, 0, `${checked} splits`);
  const bytewise: Step[] = steps.flatMap((s) => [...(s[1] as Buffer)].map((b): Step => [s[0] as 'request' | 'response', Buffer.from([b])]));
  t.equal(JSON.stringify(runSession(bytewise).exchanges.map(timeless)), whole, 'one byte per read');
});

t.test('h2load against nginx: 100 requests, 10 in flight', async (t) => {
  const { exchanges, session } = runSession(recording('h2load-nginx.json'));
  t.equal(exchanges.length, 100);
  t.same(new Set(exchanges.map((e) => `${e.request.method} ${e.request.target} ${e.response?.statusCode} ${e.response?.bodySize}`)), new Set(['GET /status 200 3']));
  t.same(exchanges.map((e) => e.streamId).sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => 2 * i + 1));
  t.ok(exchanges.every((e) => e.request.headers.get('user-agent')?.startsWith('h2load') === true));
  t.equal(session.stats().hpackLostFields, 0);
});
