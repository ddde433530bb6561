// The sweep of requests held for HTTP/1 pairing (src/collectors/sockets/held-sweep.ts), over a
// stand-in for the kernel's `held` map: old entries go on as data events, young ones stay, and an
// entry the kernel claims between the look and the take is left to the kernel.
import t from 'tap';
import type { BpfMap } from 'libbpf-ts';
import { DATA_HEADER, type SocketEvent } from '../../src/collectors/sockets/decode.js';
import { sweepHeld } from '../../src/collectors/sockets/held-sweep.js';
import { KernelClock } from '../../src/model/clock.js';
import { type RecordConn, writeDataHeader } from '../helpers/socket-records.js';

const clock = new KernelClock(() => ({ wallNs: 0n, monoNs: 0n }));
const HELD_VALUE = DATA_HEADER.size + 1024; // struct held_request

function heldValue(generation: number, tsNs: bigint, text: string): Buffer {
  const b = Buffer.alloc(HELD_VALUE);
  const conn: RecordConn = { pid: 42, fd: 7, generation, role: 1, lport: 0, rport: 0 };
  const data = Buffer.from(text);
  writeDataHeader(new DataView(b.buffer, b.byteOffset, b.length), 0, { conn, direction: 0, position: 100, tsNs, data }, data.length);
  data.copy(b, DATA_HEADER.size);
  return b;
}

/** A hash map's key/get/take surface; `raced` keys vanish between the look and the take. */
function fakeHeld(entries: Map<string, Buffer>, raced = new Set<string>()): BpfMap {
  return {
    keys: () => [...entries.keys()].map((k) => Buffer.from(k, 'hex'))[Symbol.iterator](),
    get: (k: Buffer) => entries.get(k.toString('hex')),
    take: (k: Buffer) => {
      const key = k.toString('hex');
      const v = raced.has(key) ? undefined : entries.get(key);
      entries.delete(key);
      return v;
    },
  } as unknown as BpfMap;
}

const key = (g: number): string => Buffer.from(new BigUint64Array([BigInt(g)]).buffer).toString('hex');

t.test('entries older than the bound go on as data events; the rest stay', async (t) => {
  const entries = new Map([[key(1), heldValue(1, 1_000n, 'GET /old HTTP/1.1\r\n\r\n')], [key(2), heldValue(2, 9_000n, 'GET /young HTTP/1.1\r\n\r\n')]]);
  const out: SocketEvent[] = [];
  t.equal(sweepHeld(fakeHeld(entries), clock, 5_000n, (e) => out.push(e), 10_000n), 1);
  t.same(out.map((e) => e.type === 'data' && [e.generation, e.position, e.callLen, Buffer.from(e.data).toString()]), [[1, 100, 21, 'GET /old HTTP/1.1\r\n\r\n']]);
  t.same([...entries.keys()], [key(2)], 'the young one is still held');
  t.equal(sweepHeld(fakeHeld(entries), clock, 0n, (e) => out.push(e), 10_000n), 1, 'all of them at stop');
  t.equal(entries.size, 0);
});

t.test('an entry the kernel claims first is not sent twice', async (t) => {
  const entries = new Map([[key(3), heldValue(3, 1n, 'GET /raced HTTP/1.1\r\n\r\n')]]);
  const out: SocketEvent[] = [];
  t.equal(sweepHeld(fakeHeld(entries, new Set([key(3)])), clock, 0n, (e) => out.push(e), 10n), 0);
  t.equal(out.length, 0);
});
