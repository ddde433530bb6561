// What a bpftrace script says about its own output, read from its source before it runs: the
// printf formats (so `comm=%s` stays a string even when a process is named "1234") and how each map
// is filled (count() is a counter, hist() a histogram with these bounds, avg() a gauge), which its
// JSON output alone does not tell. A heuristic reader, not a parser: what it cannot read is left
// to the defaults (typed by the value, gauges), never an error.

export type FieldType = 'int' | 'string';

/** How a map is filled: the aggregation function assigned to it. */
export type MapKind = 'count' | 'sum' | 'avg' | 'min' | 'max' | 'stats' | 'hist' | 'lhist' | 'value';

export interface MapInfo {
  kind: MapKind;
  /** Attribute names for the key's elements (`@x[pid, comm]` → pid, comm), when the map has keys. */
  keys: string[];
  /** lhist(expr, min, max, step) bounds, when they are literals. */
  linear?: { min: number; max: number; step: number };
  /** The script empties the map itself (clear/zero), so each print holds what came since the last. */
  resets: boolean;
}

export interface ScriptInfo {
  /** Field name → type, from `name=%d` / `name:%s` in every printf format. */
  fields: Map<string, FieldType>;
  /** By map name without the @ ("" for the anonymous map @). */
  maps: Map<string, MapInfo>;
}

const PRINTF = /\bprintf\s*\(\s*"((?:[^"\\]|\\.)*)"/g;
// `name=%d` or `name:%s` (Pixie's form); flags, width, precision and length modifiers allowed.
const FIELD = /([A-Za-z_][\w.]*)[=:]%[-+ #0]*\d*(?:\.\d+)?(?:hh|h|ll|l|z|j|t)?([a-zA-Z])/g;
const MAP_ASSIGN = /@(\w*)\s*(\[(?:[^\]\[]|\[[^\]]*\])*\])?\s*=\s*(count|sum|avg|min|max|stats|hist|lhist)\s*\(/g;
const MAP_PLAIN = /@(\w*)\s*(\[(?:[^\]\[]|\[[^\]]*\])*\])?\s*(?:=(?!=)|\+=|-=|\+\+|--)/g;
const LHIST_ARGS = /,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(\d+)\s*\)$/;
const RESET = /\b(?:clear|zero)\s*\(\s*@(\w*)\s*\)/g;

/** printf conversions that print a decimal integer; %x, %o and %p print text that is not one. */
const INT_CONVERSIONS = new Set(['d', 'i', 'u']);

export function analyzeScript(source: string): ScriptInfo {
  const code = stripComments(source);
  const fields = new Map<string, FieldType>();
  for (const m of code.matchAll(PRINTF)) {
    for (const f of (m[1] ?? '').matchAll(FIELD)) {
      const type: FieldType = INT_CONVERSIONS.has(f[2] ?? '') ? 'int' : 'string';
      // One name printed as both an integer and text somewhere: text is what both parse as.
      fields.set(f[1] as string, fields.get(f[1] as string) === 'string' ? 'string' : type);
    }
  }
  const resets = new Set([...code.matchAll(RESET)].map((m) => m[1] ?? ''));
  const maps = new Map<string, MapInfo>();
  for (const m of code.matchAll(MAP_PLAIN)) {
    const name = m[1] ?? '';
    if (!maps.has(name)) maps.set(name, { kind: 'value', keys: keyNames(m[2]), resets: resets.has(name) });
  }
  for (const m of code.matchAll(MAP_ASSIGN)) {
    const name = m[1] ?? '';
    const kind = m[3] as MapKind;
    const info: MapInfo = { kind, keys: keyNames(m[2]), resets: resets.has(name) };
    if (kind === 'lhist') {
      const args = LHIST_ARGS.exec(callArguments(code, (m.index ?? 0) + m[0].length));
      if (args !== null) info.linear = { min: Number(args[1]), max: Number(args[2]), step: Number(args[3]) };
    }
    maps.set(name, info);
  }
  return { fields, maps };
}

/** The text of a call's arguments up to and including its closing parenthesis. */
function callArguments(code: string, from: number): string {
  let depth = 1;
  for (let i = from; i < code.length; i++) {
    if (code[i] === '(') depth++;
    else if (code[i] === ')' && --depth === 0) return code.slice(from, i + 1);
  }
  return '';
}

/** `[pid, str(args->filename)]` → ["pid", "filename"]: the last identifier of each element. */
function keyNames(subscript: string | undefined): string[] {
  if (subscript === undefined) return [];
  const names = splitTopLevel(subscript.slice(1, -1)).map((e, i) => {
    const ids = e.match(/[A-Za-z_]\w*/g);
    return ids?.[ids.length - 1] ?? `key.${i}`;
  });
  // Two elements with the same name (@[pid, $x.pid]) must not overwrite each other.
  return names.map((n, i) => (names.indexOf(n) === i ? n : `${n}.${i}`));
}

function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    else if (c === ',' && depth === 0) {
      out.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(s.slice(start).trim());
  return out.filter((e) => e.length > 0);
}

/**
 * Comments blanked out (same length, newlines kept, so offsets still point into the source), string
 * literals kept (printf formats live in them).
 */
export function stripComments(source: string): string {
  return source.replace(/"(?:[^"\\\n]|\\.)*"|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, (m) => (m.startsWith('"') ? m : m.replace(/[^\n]/g, ' ')));
}

/**
 * The script with a printf of `marker` first thing in its BEGIN probe (added at the end when it has
 * none; on the same line when it has, so bpftrace's line numbers stay the user's). bpftrace fires
 * BEGIN once every probe is attached (its "attached_probes" message comes before attaching), so the
 * marker says the script is live.
 */
export function withReadyMarker(source: string, marker: string): MarkedScript {
  const code = stripComments(source).replace(/"(?:[^"\\\n]|\\.)*"/g, (m) => ' '.repeat(m.length));
  const begin = /\bBEGIN\s*\{/.exec(code);
  const print = ` printf("${marker}\\n");`;
  if (begin === null) return { source: `${source}\nBEGIN {${print} }\n`, addedProbes: 1, inserted: null };
  const at = begin.index + begin[0].length;
  const line = source.slice(0, at).split('\n').length;
  const column = at - source.lastIndexOf('\n', at - 1); // 1-based column of the text inserted
  return { source: `${source.slice(0, at)}${print}${source.slice(at)}`, addedProbes: 0, inserted: { line, column, text: print } };
}

export interface MarkedScript {
  source: string;
  /** Probes Lantern added (a BEGIN of its own when the script had none). */
  addedProbes: number;
  /** Where the marker went into the user's BEGIN (line and column 1-based), to take it out of errors. */
  inserted: { line: number; column: number; text: string } | null;
}

/**
 * bpftrace's error output for a marked script as if for the user's own: positions on the marker's
 * line moved back, the quoted source line and its ~~~ underline without the marker.
 */
export function unmarkErrors(stderr: string, marked: MarkedScript): string {
  const ins = marked.inserted;
  if (ins === null) return stderr;
  const markedLine = marked.source.split('\n')[ins.line - 1];
  const lines = stderr.split('\n');
  const from = ins.column - 1;
  const to = from + ins.text.length;
  return lines.map((l, i) => {
    if (l === markedLine) return l.slice(0, from) + l.slice(to);
    if (i > 0 && lines[i - 1] === markedLine && /^[ ~^]*$/.test(l)) return l.slice(0, from) + l.slice(to);
    return l.replace(/^(\w+):(\d+):(\d+)(?:-(\d+))?:/, (whole, file: string, ln: string, a: string, b: string | undefined) => {
      if (Number(ln) !== ins.line) return whole;
      const shift = (c: string): number => (Number(c) > from ? Number(c) - ins.text.length : Number(c));
      return `${file}:${ln}:${shift(a)}${b !== undefined ? `-${shift(b)}` : ''}:`;
    });
  }).join('\n');
}
