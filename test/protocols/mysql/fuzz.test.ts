// Property tests with a seeded PRNG (xorshift32; a failure names its seed). Random valid
// conversations come out exactly as generated whatever the chunking; random bytes, truncation,
// mutation and capture gaps never raise (the last-resort guard never fires), never hold more than
// the bounds, and after gaps the connection is back in step within a few commands.
import t, { type Test } from 'tap';
import type { MysqlExchange } from '../../../src/model/mysql.js';
import * as B from './builder.js';
import { play } from './harness.js';
import { XorShift32 } from '../../helpers/prng.js';

const SEEDS = Array.from({ length: 60 }, (_, i) => 0x3e5a0000 + i * 7919);
const BOUNDS = { maxStatements: 8, maxOutstanding: 8, maxQueued: 16, maxQueryBytes: 512 };

interface Expected {
  command: string;
  outcome: string;
  rows?: number;
  query?: string;
}

function value(r: XorShift32): string | null {
  if (r.chance(0.1)) return null;
  // Values of every length class, including ones whose lenenc prefix is 0xfc / 0xfd.
  const len = r.chance(0.05) ? 300 + r.int(70_000) : r.int(40);
  return 'v'.repeat(len);
}

/** A random conversation and what it must produce. */
function conversation(r: XorShift32, commands: number): { conv: B.Conversation; expected: Expected[]; deprecateEof: boolean } {
  const deprecateEof = r.chance(0.6);
  const mariadb = r.chance(0.5);
  const conv = B.login(new B.Conversation(), { deprecateEof, mariadb, database: r.chance(0.5) ? 'db' : undefined, sessionTrack: r.chance(0.3) });
  const expected: Expected[] = [];
  let nextId = 1;
  const prepared: Array<{ id: number; sql: string; cols: number }> = [];
  for (let i = 0; i < commands; i++) {
    const kind = r.int(9);
    if (kind <= 2) {
      const cols = 1 + r.int(4);
      const rows = Array.from({ length: r.int(6) }, () => Array.from({ length: cols }, () => value(r)));
      const sql = `SELECT c FROM t${i} WHERE x = '${i}'`;
      conv.client(B.query(sql)).server(B.resultSet({ columns: Array.from({ length: cols }, (_, k) => `c${k}`), rows, deprecateEof }).bytes);
      expected.push({ command: 'COM_QUERY', outcome: 'ok', rows: rows.length, query: sql });
    } else if (kind === 3) {
      const sql = `SELECT * FROM nope${i}`;
      conv.client(B.query(sql)).server(B.packet(1, B.err(1146, '42S02', `Table 'db.nope${i}' doesn't exist`)));
      expected.push({ command: 'COM_QUERY', outcome: 'error', query: sql });
    } else if (kind === 4) {
      const sql = `UPDATE t SET v = ${i}`;
      conv.client(B.query(sql)).server(B.packet(1, B.ok({ affectedRows: r.int(5) })));
      expected.push({ command: 'COM_QUERY', outcome: 'ok', query: sql });
    } else if (kind === 5) {
      const sql = `SELECT a FROM p${i} WHERE b = ?`;
      const id = nextId++;
      conv.client(B.stmtPrepare(sql)).server(B.prepareResponse(id, 1, ['a'], deprecateEof));
      expected.push({ command: 'COM_STMT_PREPARE', outcome: 'ok', query: sql });
      prepared.push({ id, sql, cols: 1 });
    } else if (kind === 6 && prepared.length > 0) {
      const s = prepared[r.int(prepared.length)]!;
      const rows = Array.from({ length: r.int(4) }, () => [value(r)]);
      const o: B.ResultSetOptions = { columns: ['a'], rows, deprecateEof, binary: true };
      if (mariadb) o.metadataFollows = r.chance(0.5);
      conv.client(B.stmtExecute(s.id, ['p'])).server(B.resultSet(o).bytes);
      expected.push({ command: 'COM_STMT_EXECUTE', outcome: 'ok', rows: rows.length, query: s.sql });
    } else if (kind === 7 && prepared.length > 0) {
      const s = prepared.splice(r.int(prepared.length), 1)[0]!;
      conv.client(B.stmtClose(s.id));
      expected.push({ command: 'COM_STMT_CLOSE', outcome: 'no_response', query: s.sql });
    } else {
      conv.client(B.ping()).server(B.packet(1, B.ok()));
      expected.push({ command: 'COM_PING', outcome: 'ok' });
    }
  }
  return { conv, expected, deprecateEof };
}

function shape(e: MysqlExchange): Expected {
  const x: Expected = { command: e.command, outcome: e.outcome };
  if (e.rows !== undefined) x.rows = e.rows;
  if (e.query !== undefined) x.query = e.query;
  return x;
}

/** Up to 4 random cut points per event. */
const randomCuts = (r: XorShift32) => (_i: number, e: B.WireEvent): number[] => Array.from({ length: r.int(5) }, () => r.int(e.bytes.length));

function checkSafety(t: Test, seed: number, what: string, conn: ReturnType<typeof play>['conn']): void {
  const s = conn.stats();
  const h = conn.held;
  if (s.internalErrors !== 0) t.fail(`seed ${seed} ${what}: internal error`);
  // Framers: a kept head each (and a header and a probe); queues: copies of kept heads.
  const maxBytes = 2 * (Math.max(BOUNDS.maxQueryBytes, 1024) + 16) + 2 * BOUNDS.maxQueued * Math.max(BOUNDS.maxQueryBytes, 1024);
  if (h.statements > BOUNDS.maxStatements || h.outstanding > BOUNDS.maxOutstanding || h.queued > 2 * BOUNDS.maxQueued || h.bytes > maxBytes) {
    t.fail(`seed ${seed} ${what}: bounds exceeded ${JSON.stringify(h)}`);
  }
}

t.test('valid conversations come out exactly, however the bytes are cut', async (t) => {
  for (const seed of SEEDS) {
    const r = new XorShift32(seed);
    const { conv, expected } = conversation(r, 5 + r.int(25));
    const { exchanges, conn } = play(conv, { ...BOUNDS, maxQueryBytes: 8192, cuts: randomCuts(r) });
    const got = exchanges.sort((a, b) => a.ordinal - b.ordinal).map(shape);
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      t.fail(`seed ${seed}: ${JSON.stringify(got)}\n!=\n${JSON.stringify(expected)}`);
      continue;
    }
    const s = conn.stats();
    if (s.parseErrors + s.orphanPackets + s.syncLosses + s.stalls !== 0) t.fail(`seed ${seed}: counters ${JSON.stringify(s)}`);
    checkSafety(t, seed, 'valid', conn);
  }
  t.pass(`${SEEDS.length} conversations`);
});

t.test('random bytes, with and without a greeting first', async (t) => {
  for (const seed of SEEDS) {
    const r = new XorShift32(seed);
    const conv = new B.Conversation();
    if (r.chance(0.5)) B.login(conv, { mariadb: r.chance(0.5) });
    for (let i = 0; i < 40; i++) {
      // Noise, sometimes shaped like packets (plausible headers, sequence 0 / 1, command bytes).
      const body = r.bytes(r.int(300));
      const shaped = r.chance(0.5) ? B.packet(r.chance(0.5) ? 0 : 1, Buffer.concat([Buffer.from([r.int(0x20)]), body])) : body;
      if (r.chance(0.5)) conv.client(shaped);
      else conv.server(shaped);
      if (r.chance(0.1)) conv.lose(r.chance(0.5) ? 'request' : 'response', 1 + r.int(5000));
    }
    const { conn } = play(conv, { ...BOUNDS, cuts: randomCuts(r) });
    checkSafety(t, seed, 'noise', conn);
  }
  t.pass('no exception, bounded');
});

t.test('truncated and mutated conversations: no exception, bounded', async (t) => {
  for (const seed of SEEDS) {
    const r = new XorShift32(seed);
    const { conv } = conversation(r, 10 + r.int(15));
    // Truncated: the connection closes at a random byte of a random event.
    const cutAt = r.int(conv.events.length);
    const truncated = conv.events.slice(0, cutAt + 1).map((e, i) => (i === cutAt ? { ...e, bytes: e.bytes.subarray(0, r.int(e.bytes.length)) } : e));
    checkSafety(t, seed, 'truncated', play(truncated, BOUNDS).conn);
    // Mutated: random bytes flipped, some events duplicated or dropped.
    const mutated: B.WireEvent[] = [];
    for (const e of conv.events) {
      if (r.chance(0.05)) continue;
      const bytes = Buffer.from(e.bytes);
      for (let k = r.int(4); k > 0 && bytes.length > 0; k--) bytes[r.int(bytes.length)] = r.int(256);
      mutated.push({ ...e, bytes });
      if (r.chance(0.05)) mutated.push({ ...e, bytes });
    }
    checkSafety(t, seed, 'mutated', play(mutated, { ...BOUNDS, cuts: randomCuts(r) }).conn);
  }
  t.pass('no exception, bounded');
});

t.test('capture gaps: back in step within a few commands', async (t) => {
  let recovered = 0;
  const totals = { syncLosses: 0, resyncs: 0, incomplete: 0, unanswered: 0, orphanPackets: 0, stalls: 0, gapBytes: 0 };
  for (const seed of SEEDS) {
    const r = new XorShift32(seed);
    const { conv, deprecateEof } = conversation(r, 10 + r.int(15));
    // Replace 1 to 3 random stretches of random syscalls with gaps of the same size.
    const events: B.WireEvent[] = [];
    const damaged = new Set(Array.from({ length: 1 + r.int(3) }, () => 3 + r.int(conv.events.length - 3)));
    for (const [i, e] of conv.events.entries()) {
      if (!damaged.has(i) || e.bytes.length < 2) {
        events.push(e);
        continue;
      }
      const a = r.int(e.bytes.length - 1);
      const b = a + 1 + r.int(e.bytes.length - a - 1);
      if (a > 0) events.push({ ...e, bytes: e.bytes.subarray(0, a) });
      events.push({ side: e.side, bytes: Buffer.alloc(0), timeNs: e.timeNs, gap: b - a });
      if (b < e.bytes.length) events.push({ ...e, bytes: e.bytes.subarray(b) });
    }
    // Then three clean commands.
    let time = (conv.events[conv.events.length - 1]?.timeNs ?? 0n) + 10_000n;
    for (let k = 0; k < 3; k++) {
      events.push({ side: 'request', bytes: B.query(`SELECT 'recovery-${k}'`), timeNs: (time += 1000n) });
      events.push({ side: 'response', bytes: B.resultSet({ columns: ['r'], rows: [[`recovery-${k}`]], deprecateEof }).bytes, timeNs: (time += 1000n) });
    }
    const { exchanges, conn } = play(events, BOUNDS);
    checkSafety(t, seed, 'gaps', conn);
    const st = conn.stats();
    for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += st[k];
    const last = exchanges.filter((e) => e.query === "SELECT 'recovery-2'");
    if (last.length === 1 && last[0]!.outcome === 'ok' && last[0]!.rows === 1) recovered++;
    else t.fail(`seed ${seed}: not back in step: ${JSON.stringify(exchanges.slice(-4).map(shape))} ${JSON.stringify(conn.stats())}`);
    // Whatever is reported as answered is what was asked.
    for (const e of exchanges) {
      if (e.outcome === 'ok' && e.command === 'COM_QUERY' && e.query?.startsWith('SELECT c FROM') === true && e.rows === undefined) t.fail(`seed ${seed}: a SELECT answered without rows`);
    }
  }
  t.equal(recovered, SEEDS.length);
  // The damage did what it should: boundaries lost and found again, answers lost.
  t.ok(totals.syncLosses > 0 && totals.resyncs > 0 && totals.incomplete + totals.unanswered > 0, JSON.stringify(totals));
});

t.test('every framing bound holds after arbitrary input', async (t) => {
  for (const seed of SEEDS.slice(0, 10)) {
    const r = new XorShift32(seed);
    const conv = B.login(new B.Conversation());
    // Many long queries and unanswered responses.
    for (let i = 0; i < 30; i++) {
      conv.client(B.query(`SELECT '${'q'.repeat(r.int(20_000))}'`));
      if (r.chance(0.3)) conv.server(B.packet(1, B.ok()));
    }
    const { conn } = play(conv, { ...BOUNDS, close: false, cuts: randomCuts(r) });
    checkSafety(t, seed, 'long', conn);
    const ex = conn.drain();
    if (ex.some((e) => (e.query?.length ?? 0) > BOUNDS.maxQueryBytes)) t.fail(`seed ${seed}: query text over the bound`);
  }
  t.pass('bounded');
});
