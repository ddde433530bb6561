// The HTTP/1 session's replay of a paired exchange (Http1Connection.paired): a pair whose bytes are
// those of the last exchange kept is replayed without the parsers; one that differs in any byte, or
// in its length, is parsed. Every position of a request's target and of the bodies of short and long
// responses of each length modulo four is changed once.
import t from 'tap';
import type { ConnectionInfo } from '../../../src/model/connection.js';
import type { HttpExchange } from '../../../src/model/http.js';
import { Http1Connection } from '../../../src/protocols/http1/connection.js';

const conn: ConnectionInfo = {
  pid: 4242, fd: 7, generation: 3, role: 'server', family: 'ipv4', transport: 'tcp',
  local: { address: '127.0.0.1', port: 8080 }, remote: { address: '127.0.0.1', port: 51234 },
};

const REQUEST = 'GET /items/42?view=full HTTP/1.1\r\nHost: shop\r\n\r\n';
const response = (body: string): string => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

/**
 * `q` and `s` as a paired record's events hold them: views into its batch, at an odd offset, other
 * bytes around them, one after the other as the kernel writes them, and a view of both (decode.ts).
 */
function captured(q: string, s: string): [Uint8Array, Uint8Array, Uint8Array] {
  const at = 5;
  const batch = Buffer.alloc(q.length + s.length + 13, 0x2a);
  batch.write(q + s, at, 'latin1');
  const view = (from: number, n: number): Uint8Array => new Uint8Array(batch.buffer, batch.byteOffset + at + from, n);
  return [view(0, q.length), view(q.length, s.length), view(0, q.length + s.length)];
}

/** A session as the handler opens them (no body bytes kept), and a call that pairs `q` with `s` at the next times and returns the exchanges it completed. */
function session(): { c: Http1Connection; pair: (q: string, s: string) => HttpExchange[] } {
  const c = new Http1Connection(conn, { maxBodyCapture: 0 });
  let ns = 1_000n;
  return {
    c,
    pair: (q, s) => {
      const [request, response, both] = captured(q, s);
      c.paired({ data: request, dataLength: request.length, timeNs: (ns += 1000n) }, { data: response, dataLength: response.length, timeNs: (ns += 1000n) }, both);
      return c.drain();
    },
  };
}

t.test('a repeated exchange is replayed at its own times, as the parsers would have made it', async (t) => {
  const { c, pair } = session();
  const s = response('hello');
  const [first] = pair(REQUEST, s);
  pair(REQUEST, s); // the request head now repeats: the exchange is kept for replay
  t.equal(c.replayed, 0);
  const [again] = pair(REQUEST, s);
  t.equal(c.replayed, 1, 'the third is replayed');
  t.equal(again?.request.target, '/items/42?view=full');
  t.equal(again?.response?.statusCode, 200);
  t.equal(again?.ordinal, 2);
  t.ok((again?.request.startNs ?? 0n) > (first?.response?.startNs ?? 0n), 'at its own times');
  // The same bytes in all, split one byte earlier: another request (cut short), not a replay.
  pair(REQUEST.slice(0, -1), REQUEST.slice(-1) + s);
  t.equal(c.replayed, 1, 'the same bytes split elsewhere are parsed');
});

t.test('a pair that differs from the kept one in any byte or in length is parsed, not replayed', async (t) => {
  const change = (text: string, i: number): string => text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ 0x01) + text.slice(i + 1);
  // Responses of eight lengths: short and long, every length modulo four.
  for (const body of ['abcdefgh', 'abcdefghi', 'abcdefghij', 'abcdefghijk', ...[60, 61, 62, 63].map((n) => 'x'.repeat(n))]) {
    const s = response(body);
    const bodyAt = s.length - body.length;
    // The request's target (its method and version would make another exchange) and the response's body.
    const changes: Array<[string, string]> = [
      ...Array.from({ length: '/items/42?view=full'.length }, (_, k): [string, string] => [change(REQUEST, 4 + k), s]),
      ...Array.from({ length: body.length }, (_, k): [string, string] => [REQUEST, change(s, bodyAt + k)]),
      [REQUEST, response(`${body}z`)],
    ];
    for (const [q, r] of changes) {
      const what = `body of ${body.length}, ${JSON.stringify(q === REQUEST ? r.slice(bodyAt) : q.slice(4, 24))}`;
      const { c, pair } = session();
      pair(REQUEST, s);
      pair(REQUEST, s);
      pair(REQUEST, s);
      t.equal(c.replayed, 1, `${what}: the original replayed once set up`);
      const [ex] = pair(q, r);
      t.equal(c.replayed, 1, `${what}: parsed`);
      t.equal(ex?.request.target, q.slice(4, q.indexOf(' HTTP/')), `${what}: its own target`);
      // The original bytes, twice more. A changed request was parsed afresh (not its head's memo), so
      // it was not kept: both are replayed. A changed response came with the memo's request and was
      // kept in place of the original: the first is parsed (and kept again), the second replayed.
      pair(REQUEST, s);
      pair(REQUEST, s);
      t.equal(c.replayed, q === REQUEST ? 2 : 3, `${what}: the original bytes replayed again`);
    }
  }
});
