// The decoders read kernel records at fixed offsets: check each offset against the C headers the
// BPF programs are built from, compiled here with the host compiler (same layout rules as BPF for
// these explicitly padded structs).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { PROCESS_EVENT } from '../../src/collectors/process/decode.js';
import { CLOSE_EVENT, DATA_HEADER, OPEN_EVENT, PAIR_EVENT } from '../../src/collectors/sockets/decode.js';
import { SHED_RED, SHED_RED_KEY } from '../../src/collectors/sockets/kernel-red.js';
import { repoRoot } from '../helpers/cli.js';

const FIELDS: Record<string, Record<string, string>> = {
  socket_open_event: { size: '', role: 'role', family: 'family', protocol: 'protocol', sockType: 'sock_type', lport: 'lport', rport: 'rport', pid: 'pid', fd: 'fd', netns: 'netns', generation: 'generation', ts: 'ts_ns', laddr: 'laddr', raddr: 'raddr', comm: 'comm' },
  socket_data_header: { size: '', direction: 'direction', protocol: 'protocol', role: 'role', pid: 'pid', tid: 'tid', fd: 'fd', generation: 'generation', position: 'position', ts: 'ts_ns', len: 'len', callLen: 'call_len', peerFamily: 'peer_family', peerPort: 'peer_port', peerAddr: 'peer_addr', tls: 'tls', shedBefore: 'shed_before', tlsVersion: 'tls_version' },
  shed_red: { size: '', count: 'count', sumNs: 'sum_ns', minNs: 'min_ns', maxNs: 'max_ns', buckets: 'buckets', summary: 'req' },
  shed_red_key: { size: '' },
  socket_pair_event: { size: '', request: 'req', response: 'resp', data: 'data' },
  socket_close_event: { size: '', role: 'role', protocol: 'protocol', shedBefore: 'shed_before', pid: 'pid', fd: 'fd', generation: 'generation', ts: 'ts_ns', bytesEgress: 'bytes_egress', bytesIngress: 'bytes_ingress' },
  process_event: { size: '', type: 'type', pid: 'pid', ppid: 'ppid', exitCode: 'exit_code', tsNs: 'ts_ns', comm: 'comm', filename: 'filename' },
};

function cOffsets(): Record<string, Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-layout-'));
  const lines: string[] = [];
  for (const [struct, fields] of Object.entries(FIELDS)) {
    for (const [key, member] of Object.entries(fields)) {
      const expr = member === '' ? `sizeof(struct ${struct})` : `offsetof(struct ${struct}, ${member})`;
      lines.push(`printf("%s %s %zu\\n", "${struct}", "${key}", ${expr});`);
    }
  }
  const src = `#include <linux/types.h>\n#include <stdbool.h>\n#include <stddef.h>\n#include <stdio.h>\n#include "sockets.h"\n#include "process.h"\nint main(void) {\n${lines.join('\n')}\nreturn 0; }\n`;
  writeFileSync(join(dir, 'layout.c'), src);
  execFileSync('gcc', ['-I', join(repoRoot, 'bpf/include'), '-o', join(dir, 'layout'), join(dir, 'layout.c')]);
  const out: Record<string, Record<string, number>> = {};
  for (const line of execFileSync(join(dir, 'layout')).toString().trim().split('\n')) {
    const [struct, key, value] = line.split(' ');
    (out[struct!] ??= {})[key!] = Number(value);
  }
  return out;
}

const c = cOffsets();
const ts: Record<string, Record<string, number>> = {
  socket_open_event: OPEN_EVENT, socket_data_header: DATA_HEADER, socket_pair_event: PAIR_EVENT, shed_red: SHED_RED, shed_red_key: SHED_RED_KEY, socket_close_event: CLOSE_EVENT, process_event: PROCESS_EVENT,
};

for (const struct of Object.keys(FIELDS)) {
  t.test(struct, async (t) => {
    for (const key of Object.keys(FIELDS[struct]!)) t.equal(ts[struct]![key], c[struct]![key], `${struct}.${key}`);
  });
}
