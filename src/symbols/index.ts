// The host symbolization layer: what the profiler (and the Go TLS uprobes, for function lookups in
// stripped binaries) import. `createSymbolizer` is the one place the pieces are put together.
import { HostSymbolizer, type SymbolizerOptions } from './host-symbolizer.js';
import type { Symbolizer } from './symbolizer.js';

export type { Frame, Symbolizer } from './symbolizer.js';
export type { SymbolizerOptions } from './host-symbolizer.js';
export { demangle, type DemangleOptions } from './demangle/index.js';
export { findGoFunction, goFunctions, parsePclntab, type GoFunction } from './gopclntab.js';
export { KernelSymbols, type KernelSymbolHit } from './kallsyms.js';
export { PerfMap, parsePerfMapLine, type PerfMapEntry } from './perf-map.js';
export { SymbolTable, functionEntries, type SymbolEntry, type SymbolHit } from './symbol-table.js';
export { debugFileCandidates, type DebugCandidate } from './debug-file.js';
export { ElfError, ElfFile } from './elf.js';

/** The host symbolizer with defaults suited to the agent (debug files in /usr/lib/debug, xz from PATH). */
export function createSymbolizer(options?: SymbolizerOptions): Symbolizer {
  return new HostSymbolizer(options);
}
