// Rust's legacy mangling: an Itanium-shaped `_ZN <len><ident>… 17h<16 hex digits> E` whose
// identifiers escape punctuation with `$…$` codes (rustc_symbol_mangling/src/legacy.rs). The trailing
// hash identifies the crate instance and is dropped, as `rustc-demangle`'s alternate form does:
// `_ZN3std2rt10lang_start17h…E` → `std::rt::lang_start`.

const ESCAPES: ReadonlyMap<string, string> = new Map([
  ['SP', '@'], ['BP', '*'], ['RF', '&'], ['LT', '<'], ['GT', '>'], ['LP', '('], ['RP', ')'], ['C', ','],
]);

/** `undefined` unless `mangled` is a legacy Rust symbol (an Itanium nested name ending in a hash). */
export function demangleRustLegacy(mangled: string): string | undefined {
  // LLVM may append `.llvm.<digits>` (ThinLTO) or other `.suffix`es after the final E: not part
  // of the name (identifiers themselves contain `..` for `::`).
  const m = /^(_ZN.*17h[0-9a-f]{16}E)(?:\.[\w.]*)?$/.exec(mangled);
  if (!m) return undefined;
  const s = m[1]!;
  const parts: string[] = [];
  let pos = 3;
  while (pos < s.length - 1) {
    let len = 0;
    let digits = 0;
    while (pos < s.length && s.charCodeAt(pos) >= 48 && s.charCodeAt(pos) <= 57) {
      len = len * 10 + s.charCodeAt(pos) - 48;
      pos++;
      if (++digits > 6) return undefined;
    }
    if (digits === 0 || len === 0 || pos + len > s.length - 1) return undefined;
    parts.push(s.slice(pos, pos + len));
    pos += len;
  }
  const hash = parts.pop();
  if (hash === undefined || parts.length === 0 || !/^h[0-9a-f]{16}$/.test(hash)) return undefined;
  const out: string[] = [];
  for (const part of parts) {
    const decoded = unescape(part);
    if (decoded === undefined) return undefined;
    out.push(decoded);
  }
  return out.join('::');
}

function unescape(part: string): string | undefined {
  // A leading `_$` keeps an identifier from starting with `$`.
  let s = part.startsWith('_$') ? part.slice(1) : part;
  let out = '';
  while (s.length > 0) {
    if (s.startsWith('$')) {
      const end = s.indexOf('$', 1);
      if (end < 0) return undefined;
      const code = s.slice(1, end);
      const plain = ESCAPES.get(code);
      if (plain !== undefined) out += plain;
      else if (/^u[0-9a-f]{1,6}$/.test(code)) {
        const cp = parseInt(code.slice(1), 16);
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return undefined;
        out += String.fromCodePoint(cp);
      } else return undefined;
      s = s.slice(end + 1);
    } else if (s.startsWith('..')) {
      out += '::';
      s = s.slice(2);
    } else {
      out += s[0];
      s = s.slice(1);
    }
  }
  return out;
}
