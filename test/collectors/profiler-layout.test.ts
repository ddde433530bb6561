// The profiler reads kernel keys and notices at fixed offsets: check them against
// bpf/include/profiler.h compiled with the host compiler (explicit padding: same layout as BPF).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  CFI_STACK_ID_FLAG, KERNEL_COUNTERS, UNWIND_COUNTERS, UNWIND_MAX_MAPPINGS, UNWIND_NO_TABLE, UNWIND_PROC, UNWIND_TABLE_SIZE, OFFCPU_KEY, OFFCPU_START, OFFCPU_VALUE, PROFILE_KEY, PROFILER_EVENT, PROFILER_EVENT_TYPE, STACK_DEPTH, decodeNotice, decodeStack,
  offCpuKeyCodec, offCpuStartCodec, offCpuValueCodec, profileKeyCodec,
} from '../../src/collectors/profiler/layout.js';
import { repoRoot } from '../helpers/cli.js';
import { UNWIND_ROW_SIZE } from '../../src/symbols/cfi-table.js';

const FIELDS: Record<string, Record<string, string>> = {
  profile_key: { size: '', pid: 'pid', tid: 'tid', userStackId: 'user_stack_id', kernelStackId: 'kernel_stack_id', tag: 'tag', comm: 'comm' },
  profiler_event: { size: '', type: 'type', flags: 'flags', pid: 'pid', comm: 'comm' },
  offcpu_key: { size: '', base: 'base', stackBuf: 'stack_buf' },
  offcpu_value: { size: '', ns: 'ns', count: 'count' },
  offcpu_start: { size: '', ts: 'ts', key: 'key', rqTs: 'rq_ts' },
  unwind_row: { size: '', pc: 'pc', cfaOffset: 'cfa_offset', rbpOffset: 'rbp_offset', cfaType: 'cfa_type', rbpType: 'rbp_type' },
  unwind_table: { size: '' },
  unwind_proc: { size: '', count: 'count', mappings: 'm' },
  unwind_mapping: { size: '', start: 'start', end: 'end', bias: 'bias', table: 'table' },
};

function cValues(): Record<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-profiler-layout-'));
  const lines: string[] = [];
  for (const [struct, fields] of Object.entries(FIELDS)) {
    for (const [key, member] of Object.entries(fields)) {
      const expr = member === '' ? `sizeof(struct ${struct})` : `offsetof(struct ${struct}, ${member})`;
      lines.push(`printf("%s.%s %zu\\n", "${struct}", "${key}", ${expr});`);
    }
  }
  for (const c of ['PROF_EV_NEW_PID', 'PROF_EV_EXEC', 'PROF_EV_EXIT', 'PROFILER_STACK_DEPTH', 'PROF_CTR_NUM', 'PROF_EV_FLAG_KTHREAD', 'PROFILER_COMM_LEN', 'PROF_EV_UNWIND_MISS', 'UNW_CTR_NUM', 'UNWIND_MAX_MAPPINGS', 'CFI_STACK_ID_FLAG']) {
    lines.push(`printf("%s %lld\\n", "${c}", (long long)${c});`);
  }
  const src = `#include <linux/types.h>\n#include <stddef.h>\n#include <stdio.h>\n#include "profiler.h"\nint main(void) {\n${lines.join('\n')}\nreturn 0; }\n`;
  writeFileSync(join(dir, 'layout.c'), src);
  execFileSync('gcc', ['-I', join(repoRoot, 'bpf/include'), '-o', join(dir, 'layout'), join(dir, 'layout.c')]);
  const out: Record<string, number> = {};
  for (const line of execFileSync(join(dir, 'layout')).toString().trim().split('\n')) {
    const [k, v] = line.split(' ');
    out[k!] = Number(v);
  }
  rmSync(dir, { recursive: true, force: true });
  return out;
}

const c = cValues();

t.test('struct profile_key', async (t) => {
  for (const key of Object.keys(FIELDS.profile_key!)) t.equal((PROFILE_KEY as Record<string, number>)[key], c[`profile_key.${key}`], key);
  t.equal(PROFILE_KEY.commLen, c.PROFILER_COMM_LEN);
});

t.test('struct profiler_event and constants', async (t) => {
  for (const key of Object.keys(FIELDS.profiler_event!)) t.equal((PROFILER_EVENT as Record<string, number>)[key], c[`profiler_event.${key}`], key);
  t.equal(PROFILER_EVENT_TYPE.NEW_PID, c.PROF_EV_NEW_PID);
  t.equal(PROFILER_EVENT_TYPE.EXEC, c.PROF_EV_EXEC);
  t.equal(PROFILER_EVENT_TYPE.EXIT, c.PROF_EV_EXIT);
  t.equal(STACK_DEPTH, c.PROFILER_STACK_DEPTH);
  t.equal(KERNEL_COUNTERS.length, c.PROF_CTR_NUM, 'one self-metric name per counter slot');
});

t.test('off-CPU structs', async (t) => {
  const layouts: Record<string, Record<string, number>> = { offcpu_key: OFFCPU_KEY, offcpu_value: OFFCPU_VALUE, offcpu_start: OFFCPU_START };
  for (const [struct, layout] of Object.entries(layouts)) {
    for (const key of Object.keys(FIELDS[struct]!)) t.equal(layout[key], c[`${struct}.${key}`], `${struct}.${key}`);
  }
  const start = Buffer.alloc(OFFCPU_START.size);
  start.writeBigUInt64LE(123n, OFFCPU_START.ts);
  start.writeUInt32LE(7, OFFCPU_START.key + PROFILE_KEY.pid);
  start.writeInt32LE(3, OFFCPU_START.key + PROFILE_KEY.userStackId);
  start.writeInt32LE(-17, OFFCPU_START.key + PROFILE_KEY.kernelStackId);
  start.write('sleeper', OFFCPU_START.key + PROFILE_KEY.comm);
  start.writeUInt32LE(1, OFFCPU_START.key + OFFCPU_KEY.stackBuf);
  const fromStart = offCpuStartCodec.decode(start);
  t.same(fromStart, { key: { pid: 7, tid: 0, userStackId: 3, kernelStackId: -17, tag: 0n, comm: 'sleeper' }, stackBuf: 1 });
  t.same(offCpuKeyCodec.decode(start.subarray(OFFCPU_START.key)), fromStart);
  const v = Buffer.alloc(OFFCPU_VALUE.size);
  v.writeBigUInt64LE(5_000_000n, OFFCPU_VALUE.ns);
  v.writeBigUInt64LE(2n, OFFCPU_VALUE.count);
  t.same(offCpuValueCodec.decode(v), { ns: 5_000_000n, count: 2n });
  t.throws(() => offCpuValueCodec.encode({ ns: 0n, count: 0n }), /written by the kernel only/);
});

t.test('decoders: key, stack, notices (short and unknown ones are refused)', async (t) => {
  const k = Buffer.alloc(PROFILE_KEY.size);
  k.writeUInt32LE(10, PROFILE_KEY.pid);
  k.writeUInt32LE(11, PROFILE_KEY.tid);
  k.writeInt32LE(5, PROFILE_KEY.userStackId);
  k.writeInt32LE(-14, PROFILE_KEY.kernelStackId);
  k.writeBigUInt64LE(2n ** 63n + 1n, PROFILE_KEY.tag);
  k.write('worker-1', PROFILE_KEY.comm);
  t.same(profileKeyCodec.decode(k), { pid: 10, tid: 11, userStackId: 5, kernelStackId: -14, tag: 2n ** 63n + 1n, comm: 'worker-1' });
  t.throws(() => profileKeyCodec.encode({ pid: 1, tid: 1, userStackId: 0, kernelStackId: 0, tag: 0n, comm: '' }));
  const st = Buffer.alloc(STACK_DEPTH * 8);
  st.writeBigUInt64LE(0x401000n, 0);
  st.writeBigUInt64LE(0x402000n, 8);
  t.same(decodeStack(st), [0x401000n, 0x402000n], 'up to the first zero');
  t.equal(decodeStack(Buffer.alloc(16, 0xff)).length, 2, 'a full value without a zero');
  const ev = Buffer.alloc(PROFILER_EVENT.size);
  ev.writeUInt8(PROFILER_EVENT_TYPE.NEW_PID, PROFILER_EVENT.type);
  ev.writeUInt8(1, PROFILER_EVENT.flags);
  ev.writeUInt32LE(42, PROFILER_EVENT.pid);
  ev.write('kworker/0:1', PROFILER_EVENT.comm);
  const view = new DataView(ev.buffer, ev.byteOffset, ev.byteLength);
  t.same(decodeNotice(view, 0, ev.length), { type: 'new-pid', pid: 42, comm: 'kworker/0:1', kernelThread: true });
  t.equal(decodeNotice(view, 0, 4), null, 'short');
  ev.writeUInt8(9, PROFILER_EVENT.type);
  t.equal(decodeNotice(view, 0, ev.length), null, 'unknown type');
});

t.test('CFI unwinding layouts (struct unwind_row, unwind_table, unwind_proc, unwind_mapping)', async (t) => {
  t.same([c['unwind_row.size'], c['unwind_row.pc'], c['unwind_row.cfaOffset'], c['unwind_row.rbpOffset'], c['unwind_row.cfaType'], c['unwind_row.rbpType']],
    [UNWIND_ROW_SIZE, 0, 4, 8, 10, 11], 'row as encodeUnwindRow writes it');
  t.equal(c['unwind_table.size'], UNWIND_TABLE_SIZE);
  t.same([c['unwind_proc.size'], c['unwind_proc.count'], c['unwind_proc.mappings']], [UNWIND_PROC.size, UNWIND_PROC.count, UNWIND_PROC.mappings]);
  t.same([c['unwind_mapping.size'], c['unwind_mapping.start'], c['unwind_mapping.end'], c['unwind_mapping.bias'], c['unwind_mapping.table']],
    [UNWIND_PROC.mappingSize, 0, 8, 16, 24], 'mapping as encodeProc writes it');
  t.equal(UNWIND_MAX_MAPPINGS, c.UNWIND_MAX_MAPPINGS);
  t.equal(UNWIND_NO_TABLE, 0xffffffff);
  t.equal(CFI_STACK_ID_FLAG, c.CFI_STACK_ID_FLAG);
  t.equal(UNWIND_COUNTERS.length, c.UNW_CTR_NUM, 'one self-metric name per unwind counter slot');
  t.equal(PROFILER_EVENT_TYPE.UNWIND_MISS, c.PROF_EV_UNWIND_MISS);
  const ev = Buffer.alloc(PROFILER_EVENT.size);
  ev.writeUInt8(PROFILER_EVENT_TYPE.UNWIND_MISS, PROFILER_EVENT.type);
  ev.writeUInt32LE(77, PROFILER_EVENT.pid);
  ev.write('x', PROFILER_EVENT.comm);
  t.same(decodeNotice(new DataView(ev.buffer, ev.byteOffset, ev.length), 0, ev.length), { type: 'unwind-miss', pid: 77, comm: 'x' });
});
