// Shell-style globs for executables and names: `*` (any run of characters but '/'), `**` (any run,
// '/' included), `?` (one character but '/'), `[abc]` / `[a-z]` / `[!abc]` (one of, or none of).
// Everything else is literal. A glob matches the whole text. Pure.

export type Glob = (text: string) => boolean;

/** Compiles `pattern`; a string (the reason) when it is not a glob this syntax accepts. */
export function compileGlob(pattern: string): Glob | string {
  if (pattern === '') return 'an empty pattern';
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        re += '.*';
        i++;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) return `an unclosed "[" at ${i + 1}`;
      let body = pattern.slice(i + 1, end);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  const compiled = new RegExp(`${re}$`, 's');
  return (text) => compiled.test(text);
}
