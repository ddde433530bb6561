// The .eh_frame parser and the row compiler against binutils: `readelf --debug-dump=frames-interp`
// of real binaries (/bin/ls, libc), compared FDE by FDE (range) and row by row (CFA, rbp and
// return-address rules at each location readelf prints), and the compiled table's row at each of
// those addresses. Then malformed input: every truncation of a real section parses without throwing.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import t from 'tap';
import { CFA_TYPE, RBP_TYPE, compileEhFrame, compileUnwindTable, encodeUnwindRow, rowFor } from '../../src/symbols/cfi-table.js';
import { type CfiRow, type RegRule, parseEhFrame, readEhFrame } from '../../src/symbols/eh-frame.js';
import { ElfFile } from '../../src/symbols/elf.js';
import { isGoBinary } from '../../src/symbols/go-buildinfo.js';

interface ReadelfFde {
  offset: number;
  start: number;
  end: number;
  rows: Array<{ loc: number; cfa: string; rbp: string; ra: string }>;
}

function readelfFdes(path: string): ReadelfFde[] {
  // readelf exits 1 on libc without saying why on stderr (binutils 2.40); its output is complete.
  const text = spawnSync('readelf', ['--debug-dump=frames-interp', path], { encoding: 'utf8', maxBuffer: 1 << 28 }).stdout;
  const out: ReadelfFde[] = [];
  let cur: ReadelfFde | null = null;
  let cols: string[] = [];
  for (const line of text.split('\n')) {
    const fde = /^([0-9a-f]+) [0-9a-f]+ [0-9a-f]+ FDE cie=[0-9a-f]+ pc=([0-9a-f]+)\.\.([0-9a-f]+)/.exec(line);
    if (fde !== null) {
      cur = { offset: parseInt(fde[1]!, 16), start: parseInt(fde[2]!, 16), end: parseInt(fde[3]!, 16), rows: [] };
      out.push(cur);
      continue;
    }
    if (/^[0-9a-f]+ [0-9a-f]+ [0-9a-f]+ CIE/.test(line)) cur = null;
    if (line.trim().startsWith('LOC')) {
      cols = line.trim().split(/\s+/);
      continue;
    }
    const row = /^([0-9a-f]{16}) (.*)$/.exec(line);
    if (row === null || cur === null) continue;
    const vals = row[2]!.trim().split(/\s+/);
    // Rules other than c±n (saved at CFA+n) and u: a register (r5), an expression (exp), a value (v…).
    const col = (name: string): string => {
      const v = vals[cols.indexOf(name) - 1] ?? 'u';
      return name === 'CFA' || v === 'u' || /^c[+-]\d+$/.test(v) ? v : 'other';
    };
    cur.rows.push({ loc: parseInt(row[1]!, 16), cfa: col('CFA'), rbp: cols.includes('rbp') ? col('rbp') : 'u', ra: col('ra') });
  }
  return out;
}

const cfaText = (r: CfiRow): string => (r.cfa.kind === 'expr' ? 'exp' : `${['rax', 'rdx', 'rcx', 'rbx', 'rsi', 'rdi', 'rbp', 'rsp'][r.cfa.reg] ?? `r${r.cfa.reg}`}+${r.cfa.offset}`);
const ruleText = (r: RegRule): string => (r.kind === 'offset' ? `c${r.offset >= 0 ? '+' : ''}${r.offset}` : r.kind === 'same' || r.kind === 'undefined' ? 'u' : 'other');

for (const path of ['/bin/ls', '/lib/x86_64-linux-gnu/libc.so.6']) {
  t.test(`${path}: FDEs and rows as readelf interprets them`, { skip: existsSync(path) ? false : `${path} absent` }, async (t) => {
    const elf = ElfFile.open(path);
    t.teardown(() => elf.close());
    const eh = readEhFrame(elf)!;
    const want = readelfFdes(path);
    t.equal(eh.malformed, 0, 'nothing malformed');
    t.equal(eh.fdes.length, want.filter((f) => f.end > f.start).length, `${eh.fdes.length} FDEs`);
    const byOffset = new Map(eh.fdes.map((f) => [f.offset, f]));
    const table = compileUnwindTable(eh)!;
    // Every FDE of ls; one in 7 of libc's (a few thousand rows).
    const sample = want.filter((f, i) => f.end > f.start && (want.length < 1000 || i % 7 === 0));
    let rows = 0;
    const bad: string[] = [];
    for (const w of sample) {
      const f = byOffset.get(w.offset);
      if (f === undefined || f.start !== w.start || f.end !== w.end) {
        bad.push(`FDE at ${w.offset.toString(16)}: ${f === undefined ? 'missing' : `${f.start.toString(16)}..${f.end.toString(16)}`}`);
        continue;
      }
      for (const r of w.rows) {
        rows++;
        const ours = [...f.rows].reverse().find((x) => x.loc <= r.loc);
        const got = ours === undefined ? 'none' : `${cfaText(ours)} ${ruleText(ours.rbp)} ${ruleText(ours.ra)}`;
        if (got !== `${r.cfa} ${r.rbp} ${r.ra}`) bad.push(`${r.loc.toString(16)}: readelf ${r.cfa} ${r.rbp} ${r.ra}, ours ${got}`);
        // The compiled row the BPF walker would use at this address.
        const c = rowFor(table, r.loc);
        const expectType = r.ra === 'u' ? CFA_TYPE.END : r.ra !== 'c-8' ? CFA_TYPE.UNSUPPORTED : r.cfa.startsWith('rsp+') ? CFA_TYPE.RSP : r.cfa.startsWith('rbp+') ? CFA_TYPE.RBP : CFA_TYPE.UNSUPPORTED;
        if (c?.cfaType !== expectType) bad.push(`${r.loc.toString(16)}: compiled type ${c?.cfaType}, expected ${expectType} (${r.cfa} ${r.ra})`);
        else if (expectType === CFA_TYPE.RSP || expectType === CFA_TYPE.RBP) {
          if (c.cfaOffset !== Number(r.cfa.slice(4))) bad.push(`${r.loc.toString(16)}: compiled offset ${c.cfaOffset} for ${r.cfa}`);
          const rbp = r.rbp === 'u' ? [RBP_TYPE.UNCHANGED, 0] : r.rbp === 'other' ? [RBP_TYPE.UNDEFINED, 0] : [RBP_TYPE.AT_CFA, Number(r.rbp.slice(1))];
          if (c.rbpType !== rbp[0] || c.rbpOffset !== rbp[1]) bad.push(`${r.loc.toString(16)}: compiled rbp ${c.rbpType}/${c.rbpOffset} for ${r.rbp}`);
        }
      }
    }
    t.ok(rows > 500, `${rows} rows compared in ${sample.length} FDEs`);
    t.same(bad.slice(0, 10), [], `${bad.length} differences`);
    // Addresses no FDE covers: a NONE row (frame pointers), below the first: nothing.
    const sorted = [...eh.fdes].sort((a, b) => a.start - b.start);
    t.equal(rowFor(table, sorted[0]!.start - 1), undefined, 'below the first FDE');
    t.equal(rowFor(table, sorted[sorted.length - 1]!.end)?.cfaType, CFA_TYPE.NONE, 'past the last FDE');
    const gap = sorted.findIndex((f, i) => i > 0 && f.start > sorted[i - 1]!.end);
    if (gap > 0) t.equal(rowFor(table, sorted[gap - 1]!.end)?.cfaType, CFA_TYPE.NONE, 'in a gap between FDEs');
    for (let i = 1; i < table.length; i++) if (table[i]!.pc <= table[i - 1]!.pc) return t.fail(`rows not sorted at ${i}`);
  });
}

t.test('truncated and corrupted sections: counted, never thrown', async (t) => {
  const elf = ElfFile.open('/bin/ls');
  t.teardown(() => elf.close());
  const sec = elf.section('.eh_frame')!;
  const data = elf.sectionData(sec);
  for (let n = 0; n < Math.min(data.length, 2000); n += 3) {
    const eh = parseEhFrame(data.subarray(0, n), sec.addr);
    if (eh.fdes.some((f) => f.end < f.start)) t.fail(`truncated at ${n}: bad FDE`);
  }
  const junk = Buffer.from(data);
  for (let i = 8; i < junk.length; i += 97) junk[i] = junk[i]! ^ 0x5a;
  const eh = parseEhFrame(junk, sec.addr);
  t.ok(eh.fdes.length + eh.malformed + eh.unsupported > 0, `corrupted: ${eh.fdes.length} FDEs, ${eh.malformed} malformed, ${eh.unsupported} unsupported`);
  t.ok(compileUnwindTable(eh) !== undefined);
});

t.test('compileEhFrame (FDE by FDE, what the worker runs) = compileUnwindTable(parseEhFrame), byte for byte', async (t) => {
  for (const path of ['/bin/ls', '/lib/x86_64-linux-gnu/libc.so.6', process.execPath]) {
    const elf = ElfFile.open(path);
    const sec = elf.section('.eh_frame')!;
    const data = elf.sectionData(sec);
    const whole = Buffer.concat(compileUnwindTable(parseEhFrame(data, sec.addr))!.map((r) => encodeUnwindRow(r)));
    const streamed = compileEhFrame(data, sec.addr)!;
    t.equal(streamed.count * 12, whole.length, `${path}: ${streamed.count} rows, ${streamed.fdes} FDEs`);
    t.ok(streamed.rows.equals(whole), `${path}: same bytes`);
    t.notOk(isGoBinary(elf), `${path} is no Go binary`);
    elf.close();
  }
  const ls = ElfFile.open('/bin/ls');
  const junk = Buffer.from(ls.sectionData(ls.section('.eh_frame')!));
  ls.close();
  for (let i = 8; i < junk.length; i += 97) junk[i] = junk[i]! ^ 0x5a;
  const a = compileEhFrame(junk, 0x1000);
  const b = compileUnwindTable(parseEhFrame(junk, 0x1000));
  t.same(a === null ? null : a.count, b === null ? null : b.length, 'a corrupted section: the same rows too');
});
