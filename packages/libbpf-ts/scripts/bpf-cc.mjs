#!/usr/bin/env node
// libbpf-ts-cc: compiles CO-RE BPF programs (`*.bpf.c`) into objects.
//
//   libbpf-ts-cc --out DIR [-I DIR]... FILE.bpf.c...
//
// Generates DIR/vmlinux.h from the running kernel's BTF with bpftool (regenerated when the BTF
// changes), then runs `clang -O2 -g -target bpf` on each source whose object is older than it or
// than any header beside it. Says plainly what is missing when clang, bpftool or BTF are.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { arch } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

const BTF = process.env.LIBBPF_TS_BTF ?? '/sys/kernel/btf/vmlinux';
const TARGET_ARCH = { x64: 'x86', arm64: 'arm64', s390x: 's390', ppc64: 'powerpc', riscv64: 'riscv' }[arch()];

function fail(message) {
  console.error(`libbpf-ts-cc: ${message}`);
  process.exit(1);
}

function which(names) {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin']);
  for (const n of names) for (const d of dirs) if (existsSync(join(d, n))) return join(d, n);
  return null;
}

function parseArgs(argv) {
  const opts = { out: null, includes: [], sources: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') opts.out = argv[++i];
    else if (a === '-I') opts.includes.push(argv[++i]);
    else if (a.startsWith('-I')) opts.includes.push(a.slice(2));
    else if (a === '--help' || a === '-h') {
      console.log('usage: libbpf-ts-cc --out DIR [-I DIR]... FILE.bpf.c...');
      process.exit(0);
    } else opts.sources.push(a);
  }
  if (opts.out === null) fail('--out DIR is required');
  if (opts.sources.length === 0) fail('no sources given');
  return opts;
}

function mtime(p) {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}

function vmlinuxHeader(out, bpftool) {
  if (!existsSync(BTF)) {
    fail(`${BTF} is missing: this kernel was built without CONFIG_DEBUG_INFO_BTF, which CO-RE needs ` +
      '(set LIBBPF_TS_BTF to a BTF file for this kernel)');
  }
  const header = join(out, 'vmlinux.h');
  const stamp = join(out, 'vmlinux.h.btf-sha1');
  const digest = createHash('sha1').update(readFileSync(BTF)).digest('hex');
  if (existsSync(header) && existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return;
  const text = execFileSync(bpftool, ['btf', 'dump', 'file', BTF, 'format', 'c'], { maxBuffer: 256 << 20 });
  writeFileSync(header, text);
  writeFileSync(stamp, digest);
}

function headersNewest(dirs) {
  let newest = 0;
  for (const d of dirs) {
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d)) if (f.endsWith('.h')) newest = Math.max(newest, mtime(join(d, f)));
  }
  return newest;
}

const opts = parseArgs(process.argv.slice(2));
const clang = which(['clang', 'clang-18', 'clang-17', 'clang-16', 'clang-15', 'clang-14']);
if (clang === null) fail('clang is not installed (apt-get install clang-14 llvm-14)');
const bpftool = which(['bpftool']);
if (bpftool === null) fail('bpftool is not installed (apt-get install bpftool)');
if (TARGET_ARCH === undefined) fail(`unsupported architecture ${arch()}`);
if (!existsSync('/usr/include/bpf/bpf_helpers.h')) fail('libbpf headers are missing (apt-get install libbpf-dev)');

const out = resolve(opts.out);
mkdirSync(out, { recursive: true });
vmlinuxHeader(out, bpftool);
const multiarch = `/usr/include/${execFileSync('gcc', ['-dumpmachine']).toString().trim()}`;
const includes = [out, ...opts.includes.map((d) => resolve(d))];

for (const src of opts.sources) {
  const obj = join(out, basename(src).replace(/\.c$/, '.o'));
  const newestInput = Math.max(mtime(src), headersNewest([dirname(resolve(src)), ...includes]));
  if (mtime(obj) > newestInput) continue;
  const args = ['-O2', '-g', '-target', 'bpf', `-D__TARGET_ARCH_${TARGET_ARCH}`, '-Wall', '-Wno-unused-function',
    ...includes.map((d) => `-I${d}`), `-idirafter`, multiarch, '-c', src, '-o', obj];
  try {
    execFileSync(clang, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch {
    fail(`compiling ${src} failed (see clang's output above)`);
  }
  console.log(`libbpf-ts-cc: ${src} → ${obj}`);
}
