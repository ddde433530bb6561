// "USE db" sent as a query changes the connection's default database (the mysql command-line
// client sends COM_INIT_DB instead, and servers with session tracking say so in the OK packet).
// Only the plain form is recognised: a comment or anything after the name gives up.

const USE = /^\s*use\s+(?:`((?:[^`]|``){1,256})`|([\p{L}\p{N}_$]{1,64}))\s*;?\s*$/iu;

/** The database a "USE name" query switches to, or null. */
export function useStatementDatabase(query: string): string | null {
  if (query.length > 300) return null;
  const m = USE.exec(query);
  if (m === null) return null;
  return m[1] !== undefined ? m[1].replace(/``/g, '`') : (m[2] ?? null);
}
