// Script parameters: `--param 1=500` is bpftrace's own positional parameter $1; a named one,
// `--param port=8080`, replaces `${port}` in the script (bpftrace 0.17 has no named parameters, and
// `${` is not bpftrace syntax, so nothing else is touched). Named values are restricted to plain
// text (no quotes, braces, semicolons or spaces) so a parameter can never become code.
const NAMED = /\$\{([A-Za-z_]\w*)\}/g;
const SAFE_VALUE = /^[\w.:/@%+,-]*$/;

export interface PreparedScript {
  source: string;
  positional: string[];
}

export function applyParams(source: string, params: Readonly<Record<string, string>>): PreparedScript | { error: string } {
  const positional: string[] = [];
  const named = new Map<string, string>();
  for (const [k, v] of Object.entries(params)) {
    if (/^[1-9]\d{0,2}$/.test(k)) positional[Number(k) - 1] = v;
    else if (/^[A-Za-z_]\w*$/.test(k)) {
      if (!SAFE_VALUE.test(v)) return { error: `parameter ${k}: value ${JSON.stringify(v)} may hold only letters, digits and . : / @ % + , - _` };
      named.set(k, v);
    } else return { error: `parameter name ${JSON.stringify(k)}: a number (for $1, $2, …) or a name (for \${name})` };
  }
  for (let i = 0; i < positional.length; i++) {
    if (positional[i] === undefined) return { error: `parameter ${i + 1} missing: positional parameters must be given from 1 without gaps` };
  }
  const missing = new Set<string>();
  const out = source.replace(NAMED, (whole, name: string) => named.get(name) ?? (missing.add(name), whole));
  if (missing.size > 0) return { error: `the script uses \${${[...missing].join('}, ${')}} but no such parameter was given (--param NAME=VALUE)` };
  return { source: out, positional: positional as string[] };
}
