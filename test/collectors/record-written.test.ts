// socketRecordWrittenNs: when the kernel wrote a record, read for the agent's lag (how late the JS
// thread handles records). A paired exchange counts from its response (the request may have waited
// long for it); short and unknown records have no time.
import t from 'tap';
import { EXEC_EVENT, SOCK_EV, socketRecordWrittenNs } from '../../src/collectors/sockets/decode.js';
import { type DataFields, type RecordConn, SocketRecordWriter } from '../helpers/socket-records.js';

const conn: RecordConn = { pid: 42, fd: 7, generation: 3, role: 1, lport: 80, rport: 40000 };
const data = (tsNs: bigint, text: string): DataFields => ({ conn, direction: 0, position: 0, tsNs, data: Buffer.from(text) });

t.test('each kind of record gives the time it was written', async (t) => {
  const w = new SocketRecordWriter(16384);
  w.open(conn, 1_000n);
  w.data(data(2_000n, 'GET / HTTP/1.1\r\n\r\n'));
  w.pair(data(3_000n, 'GET / HTTP/1.1\r\n\r\n'), data(9_000_000_000n, 'HTTP/1.1 200 OK\r\n\r\n'));
  w.pair(data(4_000n, 'GET / HTTP/1.1\r\n\r\n'), data(5_000n, 'HTTP/1.1 200 OK\r\n'), SOCK_EV.SHED);
  w.close(conn, 6_000n);
  const exec = w.record(EXEC_EVENT.size);
  w.view.setUint8(exec, SOCK_EV.EXEC);
  w.view.setBigUint64(exec + EXEC_EVENT.ts, 7_000n, true);
  t.same(w.offsets.map(([off, len]) => socketRecordWrittenNs(w.view, off, len)), [1_000n, 2_000n, 9_000_000_000n, 5_000n, 6_000n, 7_000n],
    'open, data, a pair by its response (not its request 9 s earlier), a shed exchange likewise, close, exec');
});

t.test('short and unknown records have no time', async (t) => {
  const w = new SocketRecordWriter(4096);
  w.data(data(2_000n, 'x'));
  const [off, len] = w.offsets[0]!;
  t.equal(socketRecordWrittenNs(w.view, off, 0), null, 'empty');
  t.equal(socketRecordWrittenNs(w.view, off, 39), null, 'cut before the time');
  t.equal(socketRecordWrittenNs(w.view, off, len), 2_000n);
  w.view.setUint8(off, 99);
  t.equal(socketRecordWrittenNs(w.view, off, len), null, 'an unknown type');
});
