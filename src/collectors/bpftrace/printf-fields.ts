// A printf line as typed attributes, by Lantern's convention for bpftrace output:
//   `key=value` pairs, and Pixie's `key:value` form, separated by spaces:
//     printf("pid=%d comm=%s lat_us=%d\n", …)   →  pid (int), comm (string), lat_us (int)
//     printf("time_:%llu pid:%u comm:%s\n", …)  →  the same, `time_` being the event's time
//   Numbers stay numbers; a field the script prints with %s stays text whatever it holds. With the
//   script's formats known, a value runs up to the next `key=` starting a word, so text with spaces
//   survives; in a line none of its formats printed, a value ends at the first space. The whole line is always the record's body, so
//   free-form lines arrive too.
import type { Attributes } from '../../model/span.js';
import type { FieldType } from './script-info.js';

const KEY_AT_WORD = /(?:^|\s)([A-Za-z_][\w.]*)[=:]/g;
const GENERIC_PAIR = /(?:^|\s)([A-Za-z_][\w.]*)[=:](\S+)/g;
const INTEGER = /^-?\d+$/;
const DECIMAL = /^-?\d+\.\d+$/;

/** Attribute names Lantern sets itself on every record: a script's field of the same name is renamed. */
const RESERVED = new Set(['bpftrace.script']);

export function parsePrintfFields(line: string, fields: ReadonlyMap<string, FieldType>): Attributes {
  const out: Attributes = {};
  const pairs = fields.size > 0 ? knownPairs(line, fields) : [];
  for (const [key, raw] of pairs.length > 0 ? pairs : genericPairs(line)) {
    const name = RESERVED.has(key) ? `field.${key}` : key;
    out[name] = typed(raw, fields.get(key));
  }
  return out;
}

/**
 * A line printed by one of the script's formats (it has a key they declare): each value runs up to
 * the next `key=`/`key:` that starts a word, so text with spaces stays whole.
 */
function knownPairs(line: string, fields: ReadonlyMap<string, FieldType>): Array<[string, string]> {
  const starts: Array<{ key: string; at: number; value: number }> = [];
  for (const m of line.matchAll(KEY_AT_WORD)) {
    const key = m[1] as string;
    const keyAt = (m.index ?? 0) + m[0].indexOf(key);
    starts.push({ key, at: keyAt, value: keyAt + key.length + 1 });
  }
  if (!starts.some((s) => fields.has(s.key))) return [];
  return starts.map((s, i) => [s.key, line.slice(s.value, starts[i + 1]?.at ?? line.length).trim()]);
}

function genericPairs(line: string): Array<[string, string]> {
  return [...line.matchAll(GENERIC_PAIR)].map((m) => [m[1] as string, m[2] as string]);
}

function typed(raw: string, type: FieldType | undefined): string | number {
  if (type === 'string') return raw;
  if (INTEGER.test(raw)) {
    const n = Number(raw);
    // Past 2^53 a number would lose digits: keep the exact text.
    return Number.isSafeInteger(n) ? n : raw;
  }
  if (type === undefined && DECIMAL.test(raw)) return Number(raw);
  return raw;
}
