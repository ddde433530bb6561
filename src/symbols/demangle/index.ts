// One entry point for symbol names from any toolchain: Rust (legacy and v0) and Itanium C++. A
// name no demangler accepts is returned as it is (C, Go and assembly names need nothing).
import { demangleItanium } from './itanium.js';
import { demangleRustLegacy } from './rust-legacy.js';
import { demangleRustV0 } from './rust-v0.js';

export { demangleItanium } from './itanium.js';
export { demangleRustLegacy } from './rust-legacy.js';
export { demangleRustV0 } from './rust-v0.js';

export interface DemangleOptions {
  /** C++ only: keep parameter lists and return types (`f(int)`), as c++filt prints. Default false. */
  params?: boolean;
}

/** The readable name of a symbol, or the symbol itself when it is not mangled (or not understood). */
export function demangle(name: string, options: DemangleOptions = {}): string {
  // `nm -D` and some tools append a symbol version (`foo@GLIBC_2.2.5`, `bar@@V1`): keep it aside.
  const at = name.indexOf('@', 2);
  const base = at < 0 ? name : name.slice(0, at);
  const version = at < 0 ? '' : name.slice(at);
  let out: string | undefined;
  if (base.startsWith('_R')) out = demangleRustV0(base);
  else if (base.startsWith('_Z')) out = demangleRustLegacy(base) ?? demangleItanium(base, options);
  return out === undefined ? name : out + version;
}
