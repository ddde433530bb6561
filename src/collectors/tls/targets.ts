// Which files TLS probes attach to, and where: an ELF that exports OpenSSL's SSL_read/SSL_write (libssl
// itself, or a binary that links OpenSSL statically such as node), or a Go binary with crypto/tls
// (src/symbols/go-tls.ts finds its functions, every RET, and the struct offsets to the fd). With span
// tags on, every Go binary also gets probes on goroutine creation (bpf/include/span_tags.h).
import { ElfFile } from '../../symbols/elf.js';
import { findSymbolsNamed } from '../../symbols/elf-functions.js';
import { type GoProbePoints, type GoTlsTarget, analyzeGoTlsElf, goSpawnProbePoints } from '../../symbols/go-tls.js';

/** OpenSSL functions probed, with the program at entry and whether a return probe is needed. */
export const OPENSSL_PROBES = [
  { fn: 'SSL_read', entry: 'ssl_read_enter', ret: true },
  { fn: 'SSL_read_ex', entry: 'ssl_read_ex_enter', ret: true },
  { fn: 'SSL_write', entry: 'ssl_write_enter', ret: true },
  { fn: 'SSL_write_ex', entry: 'ssl_write_ex_enter', ret: true },
  { fn: 'SSL_do_handshake', entry: 'ssl_handshake_enter', ret: true },
  { fn: 'SSL_free', entry: 'ssl_free_enter', ret: false },
] as const;

export type OpenSslFunction = (typeof OPENSSL_PROBES)[number]['fn'];

export interface OpenSslTarget {
  kind: 'openssl';
  /** File offsets of the functions found (uprobes attach at file offsets). */
  offsets: Partial<Record<OpenSslFunction, number>>;
}

export interface GoTarget {
  kind: 'go';
  /** crypto/tls, when the binary has it. */
  go?: GoTlsTarget;
  /** runtime.newproc1, when goroutine span tags are wanted. */
  spawn?: GoProbePoints;
}

export interface TlsTargetOptions {
  /** Go binaries: probe goroutine creation too, so span tags follow goroutines. */
  goroutineTags?: boolean;
}

export type TlsTarget = OpenSslTarget | GoTarget;

/**
 * Reads an ELF file and says how to probe it; null when it has no TLS library we know. Throws
 * ElfError for a file that does not parse and GoTlsError for a Go binary with crypto/tls that cannot
 * be probed (no RET found, unknown struct layout).
 */
export function tlsTargetOf(path: string, opts: TlsTargetOptions = {}): TlsTarget | null {
  const elf = ElfFile.open(path);
  try {
    const openssl = openSslOffsets(elf);
    if (openssl !== null) return openssl;
    const go = analyzeGoTlsElf(elf);
    const spawn = opts.goroutineTags === true ? goSpawnProbePoints(elf) : undefined;
    if (go === undefined && spawn === undefined) return null;
    return { kind: 'go', ...(go !== undefined ? { go } : {}), ...(spawn !== undefined ? { spawn } : {}) };
  } finally {
    elf.close();
  }
}

function openSslOffsets(elf: ElfFile): OpenSslTarget | null {
  // Exported symbols first (libssl, node); a static build that kept only .symtab second. Looked up
  // by name, not listed: node exports 75k symbols.
  for (const table of ['.dynsym', '.symtab'] as const) {
    const offsets: Partial<Record<OpenSslFunction, number>> = {};
    const found = findSymbolsNamed(elf, table, OPENSSL_PROBES.map((p) => p.fn));
    for (const { fn } of OPENSSL_PROBES) {
      const s = found.get(fn);
      const off = s && elf.addressToOffset(s.value);
      if (off !== undefined) offsets[fn] = off;
    }
    // Reads and writes, in either form, are what make the plaintext visible.
    const reads = offsets.SSL_read !== undefined || offsets.SSL_read_ex !== undefined;
    const writes = offsets.SSL_write !== undefined || offsets.SSL_write_ex !== undefined;
    if (reads && writes) return { kind: 'openssl', offsets };
  }
  return null;
}
