// The TLS attacher against real processes: a binary is attached once when a process maps it,
// released when no process maps it any more, and the number of attached files is bounded.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadLanternObject } from '../../src/collectors/bpf-object.js';
import { TlsAttacher } from '../../src/collectors/tls/attacher.js';
import { Logger } from '../../src/log.js';

const dir = mkdtempSync(join(tmpdir(), 'lantern-attacher-'));
const copy = join(dir, 'node-attach-copy');
copyFileSync(process.execPath, copy);
chmodSync(copy, 0o755);
const obj = loadLanternObject('sockets', { agentPid: process.pid, pids: [process.pid] });
const log = new Logger('warn', false, { write: () => undefined });
t.teardown(() => {
  obj.close();
  rmSync(dir, { recursive: true, force: true });
});

async function sleeper(): Promise<{ pid: number; stop(): Promise<void> }> {
  const child = spawn(copy, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300)); // let it map its binary
  return { pid: child.pid!, stop: async () => { child.kill('SIGKILL'); await once(child, 'exit'); } };
}

t.test('attached once for every process that maps the file, released after the last exits', async (t) => {
  const a = await sleeper();
  const b = await sleeper();
  const attacher = new TlsAttacher(obj, log, { pids: [a.pid, b.pid], systemLibraryDirs: [], rescanMs: 3_600_000, releaseAfterMs: 0 });
  await attacher.start();
  t.teardown(() => attacher.stop());
  t.equal(attacher.stats().files_attached, 1, 'one file (static OpenSSL in the node copy) for two processes');
  t.ok((attacher.stats().links ?? 0) >= 10, 'entry and return probes on the SSL functions');
  await a.stop();
  const scan = attacher.scanAll();
  t.equal(attacher.scanAll(), scan, 'a scan asked for while one runs is that one');
  await scan;
  t.equal(attacher.stats().files_released, 0, 'still mapped by the other process');
  await b.stop();
  await attacher.scanAll();
  t.equal(attacher.stats().files_released, 1, 'released when no process maps it');
  t.equal(attacher.stats().files, 0);
});

t.test('a file no process maps keeps its probes for a while (programs run again and again)', async (t) => {
  const a = await sleeper();
  const attacher = new TlsAttacher(obj, log, { pids: [a.pid], systemLibraryDirs: [], rescanMs: 3_600_000 });
  await attacher.start();
  t.teardown(() => attacher.stop());
  await a.stop();
  await attacher.scanAll();
  t.equal(attacher.stats().files, 1, 'kept after its last process exited');
  t.equal(attacher.stats().files_released, 0);
});

t.test('bounded: files beyond the limit are refused and counted', async (t) => {
  const a = await sleeper();
  t.teardown(() => a.stop());
  const attacher = new TlsAttacher(obj, log, { pids: [a.pid], systemLibraryDirs: [], maxFiles: 0, rescanMs: 3_600_000 });
  await attacher.start();
  t.teardown(() => attacher.stop());
  t.equal(attacher.stats().files, 0);
  t.equal(attacher.stats().attach_refused_limit, 1);
});
