// Property tests with a seeded PRNG: garbage, truncated, gapped, reordered and mutated PostgreSQL
// conversations never raise, never invent a query, and keep memory bounded.
import t, { type Test } from 'tap';
import type { ConnectionInfo } from '../../../src/model/connection.js';
import type { PostgresExchange } from '../../../src/model/postgres.js';
import { PostgresSession } from '../../../src/protocols/postgres/session.js';
import type { MessageSide } from '../../../src/protocols/session.js';
import { be, fe, prng, startupAnswer } from './builder.js';
import { type Step, failingBatch, pgbenchExtended, pgbenchPrepared, pgxCached, psqlSession } from './conversations.js';

const conn: ConnectionInfo = {
  pid: 1, fd: 3, generation: 1, role: 'client', family: 'ipv4', transport: 'tcp',
  local: { address: '127.0.0.1', port: 40000 }, remote: { address: '127.0.0.1', port: 5432 },
};
/** What one session may hold: framers' windows, 256 KiB of statements, the pending queue. */
const HELD_BOUND = 2 * 64 * 1024 + 256 * 1024 + 1024 * 64 + 16 * 1024;

const CONVERSATIONS: Array<[string, Step[]]> = [
  ['psql', psqlSession()], ['pgbench extended', pgbenchExtended(2)], ['pgbench prepared', pgbenchPrepared(2)], ['pgx', pgxCached(3)], ['batch', failingBatch()],
];

function queriesOf(steps: Step[]): Set<string> {
  const out = new Set<string>();
  const s = new PostgresSession(conn);
  steps.forEach((x, i) => s.data(x.side, x.bytes, BigInt(i)));
  s.close(0n);
  for (const e of s.drain()) if (e.query !== null) out.add(e.query);
  return out;
}

/** Runs `feed` on a fresh session; fails the test on an exception or an unbounded session. */
function guarded(t: Test, label: string, feed: (s: PostgresSession) => void): PostgresExchange[] {
  const s = new PostgresSession(conn);
  try {
    feed(s);
    if (s.heldBytes > HELD_BOUND) t.fail(`${label}: holds ${s.heldBytes} bytes`);
    s.close(1n);
    return s.drain();
  } catch (e) {
    t.fail(`${label}: ${(e as Error).stack}`);
    return [];
  }
}

t.test('random bytes on both sides, with and without a startup first', async (t) => {
  const rnd = prng(42);
  for (let i = 0; i < 400; i++) {
    guarded(t, `garbage ${i}`, (s) => {
      if (i % 2 === 0) {
        s.data('request', fe().startup({ user: 'u' }).bytes(), 1n);
        s.data('response', startupAnswer().bytes(), 2n);
      }
      for (let k = 0; k < 20; k++) {
        const b = Buffer.alloc(Math.floor(rnd() * 3000));
        for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256);
        const side: MessageSide = rnd() < 0.5 ? 'request' : 'response';
        if (rnd() < 0.1) s.gap(side, Math.floor(rnd() * 100_000), 3n);
        else s.data(side, b, 3n);
      }
    });
  }
  t.pass('400 sessions of garbage');
});

t.test('truncated, gapped, reordered and mutated conversations', async (t) => {
  const rnd = prng(7);
  let runs = 0;
  for (const [name, steps] of CONVERSATIONS) {
    const real = queriesOf(steps);
    const total = steps.length;
    for (let i = 0; i < 150; i++) {
      runs++;
      const mode = i % 4;
      const out = guarded(t, `${name} #${i} mode ${mode}`, (s) => {
        let time = 1n;
        const cut = mode === 0 ? Math.floor(rnd() * total) : total;
        for (let k = 0; k < cut; k++) {
          let step = steps[k]!;
          if (mode === 2 && k + 1 < cut && rnd() < 0.3) {
            // Reordered: a response before the request that caused it.
            const next = steps[k + 1]!;
            s.data(next.side, next.bytes, time++);
            k++;
          }
          let bytes = step.bytes;
          if (mode === 3 && rnd() < 0.2) {
            bytes = Buffer.from(bytes);
            for (let f = 0; f < 3; f++) {
              const at = Math.floor(rnd() * bytes.length);
              bytes[at] = (bytes[at] ?? 0) ^ (1 << Math.floor(rnd() * 8));
            }
          }
          if (mode === 1 && rnd() < 0.25) {
            // A gap of a known size somewhere in this step.
            const a = Math.floor(rnd() * bytes.length);
            const len = 1 + Math.floor(rnd() * (bytes.length - a));
            s.data(step.side, bytes.subarray(0, a), time);
            s.gap(step.side, len, time);
            s.data(step.side, bytes.subarray(a + len), time++);
            continue;
          }
          if (mode === 0 && k === cut - 1) step = { side: step.side, bytes: bytes.subarray(0, Math.floor(rnd() * bytes.length)) };
          s.data(step.side, mode === 0 && k === cut - 1 ? step.bytes : bytes, time++);
        }
      });
      // Losses lose operations; they never invent one (mutations may alter a text, not create one).
      if (mode !== 3) {
        for (const e of out) {
          if (e.query !== null && !real.has(e.query) && ![...real].some((q) => q.startsWith(e.query!))) t.fail(`${name} #${i}: invented ${e.query}`);
        }
      }
    }
  }
  t.equal(runs, 750);
});

t.test('a long stream of plausible messages keeps the queue and the statement map bounded', async (t) => {
  const rnd = prng(99);
  const s = new PostgresSession(conn, { maxPending: 256 });
  s.data('request', fe().startup({ user: 'u' }).bytes(), 1n);
  s.data('response', startupAnswer().bytes(), 2n);
  let maxHeld = 0;
  let maxPending = 0;
  for (let i = 0; i < 20_000; i++) {
    const r = rnd();
    // Requests the server never answers (a client that pipelines forever), new statement names.
    if (r < 0.4) s.data('request', fe().parse(`s${i}`, `SELECT ${i} FROM t${i % 97}`).bind('', `s${i}`, [String(i)]).execute().bytes(), 3n);
    else if (r < 0.5) s.data('request', fe().query(`SELECT ${'y'.repeat(Math.floor(rnd() * 20000))}`).bytes(), 3n);
    else if (r < 0.9) s.data('response', be().dataRow([String(i)]).commandComplete('SELECT 1').bytes(), 3n);
    else s.data('response', be().ready().bytes(), 3n);
    maxHeld = Math.max(maxHeld, s.heldBytes);
    maxPending = Math.max(maxPending, s.pendingResponses);
    s.drain();
  }
  t.ok(maxPending <= 256, `pending responses stayed at most ${maxPending}`);
  t.ok(maxHeld <= HELD_BOUND, `held bytes stayed at most ${maxHeld}`);
});
