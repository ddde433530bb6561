// The connection tracker with a stand-in protocol: routing by role, role inference, bounds.
import t from 'tap';
import type { SocketData, SocketEvent, SocketOpen } from '../../src/collectors/sockets/decode.js';
import { ConnectionTracker } from '../../src/collectors/sockets/tracker.js';
import type { ConnectionInfo } from '../../src/model/connection.js';
import { FollowedConnections } from '../../src/model/link-part.js';
import type { Exchange } from '../../src/model/exchange.js';
import type { CapturedBytes, MessageSide, ProtocolHandler, ProtocolSession } from '../../src/protocols/session.js';

/**
 * Records what reaches the session; every close yields one fake exchange. `pairs`: the session takes
 * a kernel-paired exchange in one call (as HTTP/1's does); else it has keptInKernel only.
 */
function fakeHandler(log: string[], pairs = false): ProtocolHandler {
  return {
    name: 'fake',
    kernelId: 1,
    looksLikeRequest: (b) => Buffer.from(b).toString().startsWith('REQ'),
    looksLikeResponse: (b) => Buffer.from(b).toString().startsWith('RES'),
    open(c: ConnectionInfo): ProtocolSession {
      let closed = false;
      return {
        data: (side: MessageSide, bytes: Uint8Array) => log.push(`${c.fd}:${c.role}:${side}:${Buffer.from(bytes).toString()}`),
        gap: (side: MessageSide, n: number) => log.push(`${c.fd}:gap:${side}:${n}`),
        close: () => {
          closed = true;
        },
        drain: (): Exchange[] => (closed ? [{ connection: c } as unknown as Exchange] : []),
        stats: () => ({ seen: 1 }),
        keptInKernel: () => log.push(`${c.fd}:kept`),
        shedBefore: (n: number) => log.push(`${c.fd}:shedBefore:${n}`),
        ...(pairs ? { paired: (q: CapturedBytes, r: CapturedBytes) => log.push(`${c.fd}:pair:${Buffer.from(q.data).toString()}|${Buffer.from(r.data).toString()}`) } : {}),
      };
    },
  };
}

const open = (fd: number, role: SocketOpen['role'], generation = 1): SocketOpen => ({
  type: 'open', pid: 10, fd, generation, role, family: 'ipv4', transport: 'tcp', protocol: 1,
  local: { address: '127.0.0.1', port: 80 }, remote: { address: '127.0.0.1', port: 5000 + fd }, netns: 0, comm: 'x', timeNs: 1n,
});
const data = (fd: number, direction: SocketData['direction'], position: number, text: string, role: SocketData['role'] = 'unknown', generation = 1): SocketData => ({
  type: 'data', pid: 10, tid: 10, fd, generation, direction, role, protocol: 1, position, callLen: text.length, data: Buffer.from(text), dataLength: text.length, peer: null, tls: null, shedBefore: 0, timeNs: 2n,
});

/** A paired record's event: its two data events, and their bytes in one view. */
const pairOf = (q: SocketData, r: SocketData): SocketEvent => ({ type: 'pair', request: q, response: r, both: Buffer.concat([q.data, r.data]) });

function tracker(log: string[], exchanges: Exchange[], opts: { max?: number; idle?: number; pairs?: boolean } = {}, now = () => 0) {
  return new ConnectionTracker({ maxConnections: opts.max ?? 100, idleTimeoutMs: opts.idle ?? 1000, handlers: [fakeHandler(log, opts.pairs)], onExchange: (e) => exchanges.push(e) }, now);
}

t.test('server and client sides map directions to request/response', async (t) => {
  const log: string[] = [];
  const ex: Exchange[] = [];
  const tr = tracker(log, ex);
  const events: SocketEvent[] = [open(3, 'server'), data(3, 'ingress', 0, 'REQ a'), data(3, 'egress', 0, 'RES a'),
    open(4, 'client'), data(4, 'egress', 0, 'REQ b'), data(4, 'ingress', 0, 'RES b'),
    { type: 'close', pid: 10, fd: 3, generation: 1, bytesEgress: 9, bytesIngress: 5, shedBefore: 0, timeNs: 3n }];
  for (const e of events) tr.handle(e);
  t.same(log, ['3:server:request:REQ a', '3:server:response:RES a', '4:client:request:REQ b', '4:client:response:RES b', '3:gap:response:4']);
  t.equal(ex.length, 1, 'closing yields the session\'s exchanges');
  t.equal(tr.stats().connections, 1);
});

t.test('connections found mid-life: role from the first bytes, or wait', async (t) => {
  const log: string[] = [];
  const tr = tracker(log, []);
  tr.handle(data(5, 'ingress', 100, 'body bytes'));
  tr.handle(data(5, 'ingress', 110, 'REQ c'));
  tr.handle(data(6, 'ingress', 0, 'RES d'));
  t.same(log, ['5:server:request:REQ c', '6:client:response:RES d']);
  const s = tr.stats();
  t.equal(s.dataWithoutOpen, 2);
  t.equal(s.roleUnresolved, 1);
});

t.test('bounded: the least recently active connection is evicted', async (t) => {
  const ex: Exchange[] = [];
  const tr = tracker([], ex, { max: 2 });
  tr.handle(open(1, 'server'));
  tr.handle(open(2, 'server'));
  tr.handle(data(1, 'ingress', 0, 'REQ'));
  tr.handle(open(3, 'server'));
  t.equal(tr.stats().connections, 2);
  t.equal(tr.stats().evictedFull, 1, 'fd 2 was the least recently active');
});

t.test('idle connections are swept and their sessions closed', async (t) => {
  let now = 0;
  const ex: Exchange[] = [];
  const tr = tracker([], ex, { idle: 1000 }, () => now);
  tr.handle(open(1, 'server'));
  tr.handle(data(1, 'ingress', 0, 'REQ'));
  now = 500;
  tr.handle(open(2, 'server'));
  tr.handle(data(2, 'ingress', 0, 'REQ'));
  now = 1200;
  tr.sweep();
  t.equal(tr.stats().evictedIdle, 1);
  t.equal(tr.stats().connections, 1);
  t.equal(ex.length, 1, 'the swept connection\'s session was closed and drained');
  t.equal(tr.stats().fake_seen, 2, 'counters of the retired session and the live one add up');
});

t.test('a reused fd with a new generation starts a new connection', async (t) => {
  const log: string[] = [];
  const tr = tracker(log, []);
  tr.handle(open(7, 'server', 1));
  tr.handle(data(7, 'ingress', 0, 'REQ one', 'server', 1));
  tr.handle(open(7, 'client', 2));
  tr.handle(data(7, 'egress', 0, 'REQ two', 'client', 2));
  t.same(log, ['7:server:request:REQ one', '7:client:request:REQ two']);
  t.equal(tr.stats().opened, 2);
});

t.test('a connection that switches to TLS starts a new conversation from the plaintext', async (t) => {
  const log: string[] = [];
  const ex: Exchange[] = [];
  const tr = tracker(log, ex);
  tr.handle(open(7, 'client'));
  tr.handle(data(7, 'egress', 0, 'REQ upgrade'));
  // The plaintext continues the stream positions, wherever the cleartext left them.
  tr.handle({ ...data(7, 'egress', 11, 'REQ secret'), tls: {} });
  tr.handle({ ...data(7, 'ingress', 0, 'RES secret'), tls: { version: '1.3' } });
  t.same(log, ['7:client:request:REQ upgrade', '7:client:request:REQ secret', '7:client:response:RES secret']);
  t.equal(ex.length, 1, 'the cleartext session ended at the switch');
  t.equal(ex[0]!.connection.tls, undefined, 'its exchanges stay cleartext');
  tr.handle({ type: 'close', pid: 10, fd: 7, generation: 1, bytesEgress: 0, bytesIngress: 0, shedBefore: 0, timeNs: 4n });
  t.equal(ex.length, 2);
  t.same(ex[1]!.connection.tls, { version: '1.3' }, 'the version learnt later reaches the TLS session');
  t.equal(tr.stats().tlsConnections, 1);
});

t.test('a kernel-paired exchange: one call to the session when both sides continue their streams', async (t) => {
  const pair = (q: SocketData, r: SocketData): SocketEvent => pairOf(q, r);
  const log: string[] = [];
  const tr = tracker(log, [], { pairs: true });
  tr.handle(open(3, 'server'));
  tr.handle(pair(data(3, 'ingress', 0, 'REQ a'), data(3, 'egress', 0, 'RES a')));
  tr.handle(pair(data(3, 'ingress', 5, 'REQ b'), data(3, 'egress', 5, 'RES b')));
  // The response of b continues apart, then a pair arrives before a chunk it follows: the streams
  // put them in order, so the pair goes through them as its two data events.
  tr.handle(data(3, 'egress', 10, '+more'));
  tr.handle(pair(data(3, 'ingress', 10, 'REQ c'), data(3, 'egress', 20, 'RES c')));
  tr.handle(data(3, 'egress', 15, '+late'));
  t.same(log, ['3:pair:REQ a|RES a', '3:pair:REQ b|RES b', '3:server:response:+more',
    '3:kept', '3:server:request:REQ c', '3:server:response:+late', '3:server:response:RES c']);
  const s = tr.stats();
  t.equal(s.bytesDelivered, 40, 'every byte counted once, by either path');
  t.equal(s.gaps, 0);
});

t.test('a kernel-paired exchange to a session without the one call: kept, then its two data events', async (t) => {
  const log: string[] = [];
  const tr = tracker(log, []);
  tr.handle(open(4, 'client'));
  tr.handle(pairOf(data(4, 'egress', 0, 'REQ a'), data(4, 'ingress', 0, 'RES a')));
  t.same(log, ['4:kept', '4:client:request:REQ a', '4:client:response:RES a']);
  // Found mid-life, its role unknown to the kernel: inferred from the request, as for data events.
  tr.handle(pairOf(data(5, 'ingress', 70, 'REQ z'), data(5, 'egress', 90, 'RES z')));
  t.same(log.slice(3), ['5:kept', '5:server:request:REQ z', '5:server:response:RES z']);
});

t.test('a close after exchanges counted in the kernel: no gap for their bytes, the session told', async (t) => {
  const log: string[] = [];
  const tr = tracker(log, []);
  const close = (fd: number, shedBefore: number): SocketEvent => ({ type: 'close', pid: 10, fd, generation: fd, bytesEgress: 5 + 30, bytesIngress: 5 + 30, shedBefore, timeNs: 3n });
  // Two connections: one exchange each went out, then bytes of exchanges the kernel counted, then the close.
  for (const fd of [3, 4]) for (const e of [open(fd, 'server', fd), data(fd, 'ingress', 0, 'REQ a', 'server', fd), data(fd, 'egress', 0, 'RES a', 'server', fd)]) tr.handle(e);
  tr.handle(close(3, 2));
  tr.handle(close(4, 0));
  t.same(log.filter((l) => l.startsWith('3:')), ['3:server:request:REQ a', '3:server:response:RES a', '3:shedBefore:2'], 'counted: told, no gap');
  t.same(log.filter((l) => l.startsWith('4:')), ['4:server:request:REQ a', '4:server:response:RES a', '4:gap:response:30', '4:gap:request:30'], 'not counted: the missing bytes are a gap');
  t.equal(tr.stats().gaps, 2);
});

t.test('followed connections: both ends of a local connection count two, for as long as each is followed', async (t) => {
  const followed = new FollowedConnections();
  const ex: Exchange[] = [];
  const tr = new ConnectionTracker({ maxConnections: 100, idleTimeoutMs: 1000, handlers: [fakeHandler([])], onExchange: (e) => ex.push(e), followed }, () => 0);
  const end = (pid: number, fd: number, generation: number, role: SocketOpen['role'], local: number, remote: number): SocketOpen => ({
    ...open(fd, role, generation), pid, local: { address: '127.0.0.1', port: local }, remote: { address: '::ffff:127.0.0.1', port: remote }, netns: 4026531840,
  });
  const part = '127.0.0.1:41000>127.0.0.1:80@4026531840';
  tr.handle(end(20, 5, 7, 'server', 80, 41000));
  t.notOk(followed.bothEnds(part), 'one end: its spans have nothing to wait for');
  tr.handle(end(21, 6, 8, 'client', 41000, 80));
  t.ok(followed.bothEnds(part), 'the client too: both ends followed');
  // The server's last exchange leaves at its close.
  const seen = ex.length;
  tr.handle({ ...data(5, 'ingress', 0, 'REQ x', 'unknown', 7), pid: 20 });
  const drained = ex.length;
  tr.handle({ type: 'close', pid: 20, fd: 5, generation: 7, bytesEgress: 0, bytesIngress: 5, shedBefore: 0, timeNs: 3n });
  t.equal(drained, seen, 'nothing out before the close');
  t.equal(ex.length, seen + 1, 'the closed end\'s exchange came out');
  t.notOk(followed.bothEnds(part), 'the server end closed: one end left');
  // A connection found mid-life has no part until its role is known; a datagram socket none at all.
  tr.handle({ ...data(9, 'egress', 0, 'REQ y', 'unknown', 11), pid: 22 });
  t.equal(followed.size, 1, 'the data-only connection has no addresses, so no part');
  tr.handle({ ...end(23, 10, 12, 'unknown', 42000, 80) });
  t.equal(followed.size, 1, 'role unknown: not yet');
  tr.handle({ ...data(10, 'egress', 0, 'REQ z', 'unknown', 12), pid: 23 });
  t.ok(followed.bothEnds('127.0.0.1:42000>127.0.0.1:80@4026531840') === false && followed.size === 2, 'told once its role was inferred (client)');
  tr.handle({ ...end(24, 11, 13, 'client', 43000, 53), transport: 'udp' });
  t.equal(followed.size, 2, 'not a datagram socket');
  tr.closeAll();
  t.equal(followed.size, 0, 'all gone with the tracker');
});

t.test('a connection after another (the tracker reuses its objects): nothing of the one before, each session given back once', async (t) => {
  const log: string[] = [];
  const released: ProtocolSession[] = [];
  const handler: ProtocolHandler = { ...fakeHandler(log), release: (s) => released.push(s) };
  const tr = new ConnectionTracker({ maxConnections: 100, idleTimeoutMs: 1000, handlers: [handler], onExchange: () => {} }, () => 0);
  // The first: a chunk held past a hole when it closes (its stream ends with a gap).
  tr.handle(open(3, 'server', 1));
  tr.handle(data(3, 'ingress', 0, 'REQ a', 'unknown', 1));
  tr.handle(data(3, 'ingress', 10, 'REQ z', 'unknown', 1));
  tr.handle({ type: 'close', pid: 10, fd: 3, generation: 1, bytesEgress: 0, bytesIngress: 15, shedBefore: 0, timeNs: 3n });
  // The next, same fd: its bytes from position 0 are its own, and it is a client.
  tr.handle(open(3, 'client', 2));
  tr.handle(data(3, 'egress', 0, 'REQ b', 'unknown', 2));
  tr.handle(data(3, 'ingress', 0, 'RES b', 'unknown', 2));
  tr.handle({ type: 'close', pid: 10, fd: 3, generation: 2, bytesEgress: 5, bytesIngress: 5, shedBefore: 0, timeNs: 4n });
  t.same(log, ['3:server:request:REQ a', '3:gap:request:5', '3:server:request:REQ z', '3:client:request:REQ b', '3:client:response:RES b']);
  t.equal(released.length, 2, 'each session given back once');
  t.not(released[0], released[1]);
  const s = tr.stats();
  t.same([s.connections, s.opened, s.closed, s.bytesDelivered, s.bytesGap, s.gaps], [0, 2, 2, 20, 5, 1], 'totals add both connections, once each');
});

t.test("sessions' counters: summed per protocol over connections gone and live, under their names, zeros named too", async (t) => {
  let n = 0;
  const counting: ProtocolHandler = {
    ...fakeHandler([]),
    open(c: ConnectionInfo): ProtocolSession {
      const seen = ++n * 10;
      return { ...fakeHandler([]).open(c), stats: () => ({ seen, errors: 0 }) };
    },
  };
  const tr = new ConnectionTracker({ maxConnections: 100, idleTimeoutMs: 1000, handlers: [counting], onExchange: () => {} }, () => 0);
  t.notOk('fake_seen' in tr.stats(), 'no session yet: no names');
  for (const fd of [3, 4, 5]) {
    tr.handle(open(fd, 'server'));
    tr.handle(data(fd, 'ingress', 0, 'REQ'));
  }
  for (const fd of [3, 4]) tr.handle({ type: 'close', pid: 10, fd, generation: 1, bytesEgress: 0, bytesIngress: 3, shedBefore: 0, timeNs: 3n });
  const s = tr.stats() as unknown as Record<string, number>;
  t.equal(s.fake_seen, 10 + 20 + 30, 'two gone and one live, each once');
  t.equal(s.fake_errors, 0, 'a counter at 0 has its name');
  t.equal(s.bytesDelivered, 9);
  const again = tr.stats() as unknown as Record<string, number>;
  t.equal(again.fake_seen, 60, 'reading the stats changes nothing');
});
