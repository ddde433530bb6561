// MySQL-dialect SQL for the semantic conventions: literals out of db.query.text, and the operation
// and collection named by a statement. Pure functions over the query text; no SQL is executed or
// fully parsed, only tokens are looked at.
//
// Lexical rules followed (MySQL 8.0 reference manual §11.1 "Literal Values", §11.7 "Comments"):
// - strings in '...' and "..." (double quotes are strings unless ANSI_QUOTES; treating them as
//   strings is the safe side), with backslash escapes and doubled quotes; X'..', B'..', N'..' and
//   _charset'..' prefixes belong to the literal;
// - numbers 12, 1.5, .5, 1e-3, hex 0x1F, bits 0b101 — but 1abc and t1 are identifiers;
// - `quoted identifiers` with doubled backticks;
// - comments: "-- " (dash dash and a space or control character), "#", and /* */. Plain comments
//   are dropped from the sanitized text (they may hold anything); /*! */ (executed by MySQL) and
//   /*+ */ (optimizer hints) are kept with their literals sanitized, since they are SQL.

const enum T {
  Space,
  Comment,
  /** "/*!" or "/*+" and any version digits: SQL follows. */
  CodeCommentOpen,
  /** The "*\/" closing a code comment. */
  CodeCommentClose,
  String,
  Number,
  Word,
  Quoted,
  Punct,
}

function isWordChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x24 || c >= 0x80;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
}

/** A lexer over the text; `next()` moves to the next token and sets kind/start/end. */
class Lexer {
  kind: T = T.Space;
  start = 0;
  end = 0;
  private inCode = false;

  constructor(readonly s: string) {}

  next(): boolean {
    const s = this.s;
    const n = s.length;
    let i = this.end;
    if (i >= n) return false;
    this.start = i;
    const c = s.charCodeAt(i);
    if (isSpace(c)) {
      while (i < n && isSpace(s.charCodeAt(i))) i++;
      return this.set(T.Space, i);
    }
    if (c === 0x27 || c === 0x22) return this.set(T.String, this.stringEnd(i));
    if (c === 0x60) {
      i++;
      while (i < n) {
        if (s.charCodeAt(i) === 0x60) {
          if (s.charCodeAt(i + 1) === 0x60) i += 2;
          else return this.set(T.Quoted, i + 1);
        } else i++;
      }
      return this.set(T.Quoted, n);
    }
    if (c === 0x23 || (c === 0x2d && s.charCodeAt(i + 1) === 0x2d && (i + 2 >= n || s.charCodeAt(i + 2) <= 0x20))) {
      while (i < n && s.charCodeAt(i) !== 0x0a) i++;
      return this.set(T.Comment, i);
    }
    if (c === 0x2f && s.charCodeAt(i + 1) === 0x2a) {
      const mark = s.charCodeAt(i + 2);
      if (mark === 0x21 || mark === 0x2b) {
        i += 3;
        while (i < n && isDigit(s.charCodeAt(i))) i++; // /*!50001 version
        this.inCode = true;
        return this.set(T.CodeCommentOpen, i);
      }
      const close = s.indexOf('*/', i + 2);
      return this.set(T.Comment, close < 0 ? n : close + 2);
    }
    if (this.inCode && c === 0x2a && s.charCodeAt(i + 1) === 0x2f) {
      this.inCode = false;
      return this.set(T.CodeCommentClose, i + 2);
    }
    if (isDigit(c) || (c === 0x2e && isDigit(s.charCodeAt(i + 1)) && !this.afterWord(i))) {
      const e = this.numberEnd(i);
      if (e > 0) return this.set(T.Number, e);
      // Digits running into letters: an identifier such as 1abc.
      while (i < n && isWordChar(s.charCodeAt(i))) i++;
      return this.set(T.Word, i);
    }
    if (isWordChar(c)) {
      while (i < n && isWordChar(s.charCodeAt(i))) i++;
      const q = s.charCodeAt(i);
      if (q === 0x27 || (q === 0x22 && c === 0x5f)) {
        // X'0A', B'01', N'text', _utf8mb4'text': the prefix belongs to the literal.
        const w = i - this.start;
        const p = c | 0x20;
        if ((w === 1 && (p === 0x78 || p === 0x62 || p === 0x6e)) || c === 0x5f) return this.set(T.String, this.stringEnd(i));
      }
      return this.set(T.Word, i);
    }
    return this.set(T.Punct, i + 1);
  }

  text(): string {
    return this.s.slice(this.start, this.end);
  }

  private set(kind: T, end: number): boolean {
    this.kind = kind;
    this.end = end;
    return true;
  }

  /** The previous character continues a word (a `.5` after "t" is part of a name, not a number). */
  private afterWord(i: number): boolean {
    return i > 0 && (isWordChar(this.s.charCodeAt(i - 1)) || this.s.charCodeAt(i - 1) === 0x60);
  }

  /** End of a quoted string starting at `i` (its quote); unterminated strings run to the end. */
  private stringEnd(i: number): number {
    const s = this.s;
    const n = s.length;
    const quote = s.charCodeAt(i);
    i++;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c === 0x5c) i += 2;
      else if (c === quote) {
        if (s.charCodeAt(i + 1) === quote) i += 2;
        else return i + 1;
      } else i++;
    }
    return n;
  }

  /** End of a numeric literal at `i`, or -1 when the digits are the start of an identifier. */
  private numberEnd(i: number): number {
    const s = this.s;
    const n = s.length;
    let j = i;
    const c1 = s.charCodeAt(i + 1) | 0x20;
    if (s.charCodeAt(i) === 0x30 && (c1 === 0x78 || c1 === 0x62)) {
      j = i + 2;
      const hex = c1 === 0x78;
      while (j < n && (hex ? isHex(s.charCodeAt(j)) : s.charCodeAt(j) === 0x30 || s.charCodeAt(j) === 0x31)) j++;
      return j > i + 2 && (j >= n || !isWordChar(s.charCodeAt(j))) ? j : -1;
    }
    while (j < n && isDigit(s.charCodeAt(j))) j++;
    if (s.charCodeAt(j) === 0x2e) {
      j++;
      while (j < n && isDigit(s.charCodeAt(j))) j++;
    }
    if ((s.charCodeAt(j) | 0x20) === 0x65) {
      let k = j + 1;
      if (s.charCodeAt(k) === 0x2b || s.charCodeAt(k) === 0x2d) k++;
      if (isDigit(s.charCodeAt(k))) {
        while (k < n && isDigit(s.charCodeAt(k))) k++;
        j = k;
      }
    }
    return j < n && isWordChar(s.charCodeAt(j)) ? -1 : j;
  }
}

/**
 * db.query.text without literals: strings, numbers, hex and bit values become `?`; plain comments
 * are removed. Placeholders, identifiers, keywords and operators stay as they were.
 */
export function sanitizeMysqlQuery(sql: string): string {
  const lx = new Lexer(sql);
  let out = '';
  let from = 0; // start of the verbatim run not yet copied
  while (lx.next()) {
    switch (lx.kind) {
      case T.String:
      case T.Number:
        out += sql.slice(from, lx.start) + '?';
        from = lx.end;
        break;
      case T.Comment: {
        out += sql.slice(from, lx.start);
        // Keep tokens apart: "a/* */b" must not become "ab".
        const before = out.charCodeAt(out.length - 1);
        if (out.length > 0 && !isSpace(before) && lx.end < sql.length && !isSpace(sql.charCodeAt(lx.end))) out += ' ';
        from = lx.end;
        break;
      }
      default:
        break;
    }
  }
  out += sql.slice(from);
  return out.trim();
}

export interface SqlSummary {
  /** db.operation.name: the statement's first keyword(s), upper case ("SELECT", "CREATE TABLE"). */
  operation?: string;
  /** db.collection.name: the one table the statement names, as written (schema prefix kept). */
  collection?: string;
  /** db.stored_procedure.name for CALL. */
  procedure?: string;
}

interface Tok {
  /** Upper-cased word, or the punctuation character; '' for a quoted identifier. */
  word: string;
  /** Identifier value: a word as written, or a quoted identifier without its backticks. */
  name: string;
  quoted: boolean;
  punct: boolean;
}

/** Tokens that matter for the summary: words, quoted identifiers and punctuation, bounded. */
function significantTokens(sql: string, max: number): { toks: Tok[]; more: boolean } {
  const lx = new Lexer(sql);
  const toks: Tok[] = [];
  while (lx.next()) {
    if (lx.kind === T.Space || lx.kind === T.Comment || lx.kind === T.CodeCommentOpen || lx.kind === T.CodeCommentClose) continue;
    if (toks.length >= max) return { toks, more: true };
    const text = lx.text();
    if (lx.kind === T.Word) toks.push({ word: text.toUpperCase(), name: text, quoted: false, punct: false });
    else if (lx.kind === T.Quoted) toks.push({ word: '', name: text.slice(1, text.endsWith('`') && text.length > 1 ? -1 : undefined).replace(/``/g, '`'), quoted: true, punct: false });
    else if (lx.kind === T.Punct) toks.push({ word: text, name: '', quoted: false, punct: true });
    else toks.push({ word: '?', name: '', quoted: false, punct: false }); // a literal
  }
  return { toks, more: false };
}

/** Statements named by their first keyword. */
const OPERATIONS = new Set([
  'SELECT', 'INSERT', 'UPDATE', 'DELETE', 'REPLACE', 'CREATE', 'DROP', 'ALTER', 'TRUNCATE', 'RENAME', 'SHOW', 'SET',
  'USE', 'CALL', 'BEGIN', 'START', 'COMMIT', 'ROLLBACK', 'SAVEPOINT', 'RELEASE', 'LOCK', 'UNLOCK', 'EXPLAIN',
  'DESCRIBE', 'DESC', 'GRANT', 'REVOKE', 'PREPARE', 'EXECUTE', 'DEALLOCATE', 'WITH', 'LOAD', 'HANDLER', 'DO',
  'ANALYZE', 'OPTIMIZE', 'CHECK', 'CHECKSUM', 'REPAIR', 'FLUSH', 'KILL', 'XA', 'VALUES', 'TABLE', 'INSTALL',
  'UNINSTALL', 'RESET', 'PURGE', 'CHANGE', 'STOP', 'HELP', 'SIGNAL', 'RESIGNAL', 'GET', 'CACHE', 'BINLOG',
]);

/** Object types that complete a DDL operation name ("CREATE TABLE"). */
const DDL_OBJECTS = new Set([
  'TABLE', 'DATABASE', 'SCHEMA', 'INDEX', 'VIEW', 'PROCEDURE', 'FUNCTION', 'TRIGGER', 'EVENT', 'USER', 'ROLE',
  'SEQUENCE', 'SERVER', 'TABLESPACE',
]);

/** Words that may stand between CREATE/DROP/ALTER and the object type. */
const DDL_MODIFIERS = new Set([
  'TEMPORARY', 'OR', 'REPLACE', 'UNIQUE', 'FULLTEXT', 'SPATIAL', 'ONLINE', 'OFFLINE', 'IGNORE', 'ALGORITHM',
  'DEFINER', 'SQL', 'SECURITY', 'AGGREGATE', 'UNDEFINED', 'MERGE', 'TEMPTABLE', 'INVOKER', '=',
]);

/** Words that end a table reference or show a second one. */
const JOINS = new Set(['JOIN', 'STRAIGHT_JOIN', 'INNER', 'CROSS', 'LEFT', 'RIGHT', 'NATURAL', 'OUTER']);

/** Keywords that are no table name. */
const NOT_TABLES = new Set(['DUAL', 'SELECT', 'VALUES', 'SET', 'WHERE', 'LATERAL', 'JSON_TABLE']);

const MAX_TOKENS = 4096;

/**
 * The operation and, conservatively, the collection of a statement: the collection only when the
 * statement names exactly one table and nothing else could be read (no joins, no lists of tables,
 * no subqueries or unions, one statement), as db.collection.name must not guess between several.
 */
export function summarizeMysqlQuery(sql: string): SqlSummary {
  const { toks, more } = significantTokens(sql, MAX_TOKENS);
  let i = 0;
  while (i < toks.length && toks[i]!.word === '(') i++;
  const head = toks[i];
  if (head === undefined || head.punct || head.quoted || !OPERATIONS.has(head.word)) return {};
  const out: SqlSummary = {};
  let op = head.word === 'DESC' ? 'DESCRIBE' : head.word;
  const at = (k: number): Tok | undefined => toks[k];
  const w = (k: number): string => toks[k]?.word ?? '';

  // Statement end: the first ';' followed by anything means several statements.
  let end = toks.length;
  for (let k = i; k < toks.length; k++) {
    if (toks[k]!.word === ';') {
      end = k;
      break;
    }
  }
  const single = !more && toks.slice(end + 1).every((t) => t.word === ';');
  const body = toks.slice(i, end);
  const selects = body.filter((t) => t.word === 'SELECT').length;
  const hasJoin = body.some((t) => JOINS.has(t.word));
  const clean = single && !hasJoin;

  const tableAt = (k: number): { name: string; next: number } | null => {
    const t = at(k);
    if (t === undefined || t.punct || t.word === '?' || NOT_TABLES.has(t.word)) return null;
    let name = t.name;
    let j = k + 1;
    // schema.table
    if (w(j) === '.' && at(j + 1) !== undefined && !at(j + 1)!.punct) {
      name = `${name}.${at(j + 1)!.name}`;
      j += 2;
    }
    if (name === '') return null;
    return { name, next: j };
  };
  /** A table reference followed by nothing that names another (alias allowed). */
  const soleTable = (k: number): string | undefined => {
    const t = tableAt(k);
    if (t === null) return undefined;
    let j = t.next;
    if (w(j) === 'AS') j++;
    if (at(j) !== undefined && !at(j)!.punct && (at(j)!.quoted || !isClauseWord(w(j)))) j++; // alias
    if (w(j) === ',') return undefined;
    return t.name;
  };

  switch (op) {
    case 'SELECT': {
      if (!clean || selects !== 1) break;
      const from = indexAtDepth0(body, 'FROM');
      if (from >= 0) {
        const c = soleTable(i + from + 1);
        if (c !== undefined) out.collection = c;
      }
      break;
    }
    case 'INSERT':
    case 'REPLACE': {
      let k = i + 1;
      while (['LOW_PRIORITY', 'DELAYED', 'HIGH_PRIORITY', 'IGNORE'].includes(w(k))) k++;
      if (w(k) === 'INTO') k++;
      if (clean && selects === 0) {
        const t = tableAt(k);
        if (t !== null) out.collection = t.name;
      }
      break;
    }
    case 'UPDATE': {
      let k = i + 1;
      while (['LOW_PRIORITY', 'IGNORE'].includes(w(k))) k++;
      if (clean && selects === 0) {
        const c = soleTable(k);
        if (c !== undefined) out.collection = c;
      }
      break;
    }
    case 'DELETE': {
      let k = i + 1;
      while (['LOW_PRIORITY', 'QUICK', 'IGNORE'].includes(w(k))) k++;
      if (w(k) === 'FROM' && clean && selects === 0) {
        const t = tableAt(k + 1);
        // "DELETE FROM t1, t2 USING ..." names several.
        if (t !== null && w(t.next) !== ',' && w(t.next) !== 'USING') out.collection = t.name;
      }
      break;
    }
    case 'CREATE':
    case 'DROP':
    case 'ALTER': {
      let k = i + 1;
      while (DDL_MODIFIERS.has(w(k)) || (w(k - 1) === '=' && k > i + 1)) k++;
      const object = w(k);
      if (!DDL_OBJECTS.has(object)) break;
      op = `${op} ${object === 'SCHEMA' ? 'DATABASE' : object}`;
      if (object !== 'TABLE' || !clean) break;
      k++;
      if (w(k) === 'IF') k += w(k + 1) === 'NOT' ? 3 : 2; // IF [NOT] EXISTS
      const t = tableAt(k);
      // CREATE TABLE a LIKE b / AS SELECT, DROP TABLE a, b: more than one.
      if (t !== null && w(t.next) !== ',' && w(t.next) !== 'LIKE' && selects === 0) out.collection = t.name;
      break;
    }
    case 'TRUNCATE': {
      const k = w(i + 1) === 'TABLE' ? i + 2 : i + 1;
      const t = single ? tableAt(k) : null;
      if (t !== null) out.collection = t.name;
      break;
    }
    case 'START':
      if (w(i + 1) === 'TRANSACTION') op = 'START TRANSACTION';
      break;
    case 'CALL': {
      const t = tableAt(i + 1);
      if (t !== null) out.procedure = t.name;
      break;
    }
    case 'WITH': {
      // A common table expression: named by the statement it introduces.
      const main = body.findIndex((t, k) => k > 0 && depthAt(body, k) === 0 && ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'REPLACE'].includes(t.word));
      if (main > 0) op = body[main]!.word;
      break;
    }
    default:
      break;
  }
  out.operation = op;
  return out;
}

/** Words that start a clause, so they are not a table alias. */
function isClauseWord(word: string): boolean {
  return [
    'WHERE', 'GROUP', 'ORDER', 'LIMIT', 'HAVING', 'SET', 'ON', 'USING', 'FOR', 'LOCK', 'UNION', 'INTO', 'WINDOW',
    'PROCEDURE', 'PARTITION', 'FORCE', 'USE', 'IGNORE', 'VALUES', 'VALUE', 'SELECT', 'RETURNING', 'EXCEPT', 'INTERSECT',
    ...JOINS,
  ].includes(word);
}

/** Parenthesis depth before token k. */
function depthAt(toks: Tok[], k: number): number {
  let d = 0;
  for (let j = 0; j < k; j++) {
    if (toks[j]!.word === '(') d++;
    else if (toks[j]!.word === ')') d = Math.max(0, d - 1);
  }
  return d;
}

/** Index of the first `word` outside parentheses, or -1. */
function indexAtDepth0(toks: Tok[], word: string): number {
  let d = 0;
  for (let j = 0; j < toks.length; j++) {
    const t = toks[j]!.word;
    if (t === '(') d++;
    else if (t === ')') d = Math.max(0, d - 1);
    else if (d === 0 && t === word) return j;
  }
  return -1;
}
