// DNS message decoding and query/response matching on hand-built messages (RFC 1035 §4).
import t from 'tap';
import { DnsSession } from '../../../src/protocols/dns/session.js';
import { decodeDnsMessage, looksLikeDnsQuery, looksLikeDnsResponse } from '../../../src/protocols/dns/message.js';
import type { ConnectionInfo } from '../../../src/model/connection.js';

/** Builds a DNS message: header (§4.1.1), one question (§4.1.2), answers (§4.1.3) with compression. */
function message(opts: { id: number; response?: boolean; rcode?: number; name: string; type: number; answers?: Array<{ type: number; data: number[] }> }): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(opts.id, 0);
  header.writeUInt16BE((opts.response ? 0x8180 : 0x0100) | (opts.rcode ?? 0), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(opts.answers?.length ?? 0, 6);
  const qname = Buffer.concat([...opts.name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
  const question = Buffer.concat([qname, Buffer.from([0, opts.type, 0, 1])]);
  const answers = (opts.answers ?? []).map((a) => {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question name at offset 12
    rr.writeUInt16BE(a.type, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(300, 6);
    rr.writeUInt16BE(a.data.length, 10);
    return Buffer.concat([rr, Buffer.from(a.data)]);
  });
  return Buffer.concat([header, question, ...answers]);
}

const conn = (transport: 'udp' | 'tcp'): ConnectionInfo => ({ pid: 1, fd: 3, generation: 1, role: 'client', family: 'ipv4', transport,
  local: { address: '127.0.0.1', port: 40000 }, remote: { address: '127.0.0.1', port: 53 } });

t.test('decodes questions, answers with compression, rcode', async (t) => {
  const q = decodeDnsMessage(message({ id: 0x1234, name: 'lantern.test', type: 1 }), 1n);
  t.same(q?.questions, [{ name: 'lantern.test', type: 1, class: 1 }]);
  t.equal(q?.isResponse, false);
  t.ok(looksLikeDnsQuery(message({ id: 1, name: 'a.b', type: 28 })));
  const r = decodeDnsMessage(message({ id: 0x1234, response: true, name: 'lantern.test', type: 28,
    answers: [{ type: 28, data: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1] }, { type: 1, data: [10, 1, 2, 3] }] }), 2n);
  t.same(r?.answers.map((a) => [a.name, a.data, a.ttl]), [['lantern.test', '2001:db8::1', 300], ['lantern.test', '10.1.2.3', 300]]);
  t.ok(looksLikeDnsResponse(message({ id: 1, response: true, name: 'x', type: 1 })));
  t.equal(decodeDnsMessage(message({ id: 9, response: true, rcode: 3, name: 'nope.test', type: 1 }), 3n)?.rcode, 3);
});

t.test('malformed messages are refused, never thrown', async (t) => {
  t.equal(decodeDnsMessage(Buffer.alloc(5), 0n), null, 'shorter than a header');
  const loop = message({ id: 1, name: 'a', type: 1 });
  loop.writeUInt16BE(0xc00c, 12); // the question name points at itself
  t.equal(decodeDnsMessage(loop, 0n), null, 'compression loop');
  const cut = message({ id: 1, name: 'lantern.test', type: 1 }).subarray(0, 20);
  t.equal(decodeDnsMessage(cut, 0n), null, 'truncated question');
  let seed = 7;
  for (let i = 0; i < 5000; i++) {
    const len = (seed = (seed * 1103515245 + 12345) >>> 0) % 300;
    const b = Buffer.alloc(len);
    for (let j = 0; j < len; j++) b[j] = (seed = (seed * 1103515245 + 12345) >>> 0) & 0xff;
    decodeDnsMessage(b, 0n); // must not throw
  }
  t.pass('5000 random messages decoded without an exception');
});

t.test('UDP: queries matched by id and question, in any order; unanswered expire at close', async (t) => {
  const s = new DnsSession(conn('udp'));
  s.data('request', message({ id: 1, name: 'lantern.test', type: 1 }), 10n);
  s.data('request', message({ id: 2, name: 'lantern.test', type: 28 }), 11n);
  s.data('request', message({ id: 3, name: 'lost.test', type: 1 }), 12n);
  s.data('response', message({ id: 2, response: true, name: 'lantern.test', type: 28 }), 20n);
  s.data('response', message({ id: 1, response: true, name: 'lantern.test', type: 1, answers: [{ type: 1, data: [10, 1, 2, 3] }] }), 21n);
  s.data('response', message({ id: 99, response: true, name: 'other.test', type: 1 }), 22n);
  const done = s.drain();
  t.same(done.map((e) => [e.query.id, e.response?.timeNs]), [[2, 20n], [1, 21n]]);
  s.close();
  const expired = s.drain();
  t.same(expired.map((e) => [e.query.id, e.response]), [[3, null]]);
  t.equal(s.stats().unmatched, 1);
});

t.test('TCP: length-prefixed messages split anywhere', async (t) => {
  const q = message({ id: 5, name: 'tcp.test', type: 1 });
  const r = message({ id: 5, response: true, name: 'tcp.test', type: 1, answers: [{ type: 1, data: [1, 2, 3, 4] }] });
  const framed = (m: Buffer): Buffer => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]);
  const fq = framed(q);
  const fr = framed(r);
  for (let cut = 0; cut <= fq.length; cut++) {
    const s = new DnsSession(conn('tcp'));
    s.data('request', fq.subarray(0, cut), 1n);
    s.data('request', fq.subarray(cut), 2n);
    s.data('response', fr.subarray(0, Math.min(cut, fr.length)), 3n);
    s.data('response', fr.subarray(Math.min(cut, fr.length)), 4n);
    const ex = s.drain();
    if (ex.length !== 1 || ex[0]?.response?.answers[0]?.data !== '1.2.3.4') {
      t.fail(`split at ${cut}`);
      return;
    }
  }
  t.pass('every split offset gives the one exchange');
});
