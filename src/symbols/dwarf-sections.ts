// The DWARF sections of an ELF file, inflated. Three spellings exist in the wild:
//   .debug_x, plain;
//   .debug_x with SHF_COMPRESSED (zlib behind an Elf64_Chdr), Go ≥ 1.19 and `ld --compress-debug-sections`,
//     inflated by ElfFile.sectionData;
//   .zdebug_x, "ZLIB" + 8-byte big-endian inflated size + zlib stream, Go 1.11–1.18 and old binutils.
import { inflateSync } from 'node:zlib';
import { DwarfError } from './dwarf-cursor.js';
import type { ElfFile } from './elf.js';

export interface DwarfSections {
  info: Buffer;
  abbrev: Buffer;
  /** DW_FORM_strp targets (C compilers; Go writes names inline). */
  str?: Buffer;
  /** DW_FORM_line_strp targets (DWARF 5). */
  lineStr?: Buffer;
  /** DW_FORM_strx* indexes (DWARF 5). */
  strOffsets?: Buffer;
  /** DW_FORM_addrx* indexes (DWARF 5; Go ≥ 1.25). */
  addr?: Buffer;
}

/** Inflated size bound, as for ELF sections: garbage headers must not make us allocate without limit. */
const MAX_INFLATED = 1 << 30;

/** Inflates a `.zdebug_*` section: "ZLIB", the inflated size as a big-endian u64, a zlib stream. */
export function inflateZdebug(name: string, raw: Buffer): Buffer {
  if (raw.length < 12 || raw.toString('latin1', 0, 4) !== 'ZLIB') throw new DwarfError('no ZLIB header', name, 0);
  const size = raw.readBigUInt64BE(4);
  if (size > BigInt(MAX_INFLATED)) throw new DwarfError(`inflated size ${size} too large`, name, 4);
  try {
    const out = inflateSync(raw.subarray(12), { maxOutputLength: Math.max(Number(size), 1) });
    if (out.length !== Number(size)) throw new Error(`inflated to ${out.length} bytes, header says ${size}`);
    return out;
  } catch (err) {
    throw new DwarfError(`zlib: ${(err as Error).message}`, name, 12, { cause: err });
  }
}

function load(elf: ElfFile, suffix: string): Buffer | undefined {
  const plain = elf.section(`.debug_${suffix}`);
  try {
    if (plain && plain.size > 0) return elf.sectionData(plain);
    const z = elf.section(`.zdebug_${suffix}`);
    if (z && z.size > 0) return inflateZdebug(z.name, elf.sectionData(z));
  } catch (err) {
    if (err instanceof DwarfError) throw err;
    throw new DwarfError((err as Error).message, `.debug_${suffix}`, 0, { cause: err });
  }
  return undefined;
}

/** The sections a DwarfInfo reads, or undefined when the file has no .debug_info (stripped, `-ldflags=-w`). */
export function dwarfSectionsFromElf(elf: ElfFile): DwarfSections | undefined {
  const info = load(elf, 'info');
  if (!info) return undefined;
  const abbrev = load(elf, 'abbrev');
  if (!abbrev) throw new DwarfError('.debug_info without .debug_abbrev', '.debug_abbrev', 0);
  return {
    info,
    abbrev,
    str: load(elf, 'str'),
    lineStr: load(elf, 'line_str'),
    strOffsets: load(elf, 'str_offsets'),
    addr: load(elf, 'addr'),
  };
}
