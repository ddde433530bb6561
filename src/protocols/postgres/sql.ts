// PostgreSQL's SQL, read just enough for the database semantic conventions
// (https://opentelemetry.io/docs/specs/semconv/db/database-spans/): a lexer that knows the
// dialect's literals (https://www.postgresql.org/docs/current/sql-syntax-lexical.html), a sanitizer
// that replaces every literal with `?`, and an analyzer that names the operation, the tables and a
// low-cardinality summary. Pure functions of the text; nothing here throws, unterminated literals
// (a query cut by the capture) run to the end of the text.

export const TOKEN = {
  WORD: 0, // identifier or keyword, unquoted
  QUOTED: 1, // "quoted identifier" (U&"..." too)
  STRING: 2, // '...', E'...', B'...', X'...', N'...', U&'...', $tag$...$tag$
  NUMBER: 3,
  PARAM: 4, // $1
  PUNCT: 5, // one character, or '::'
  COMMENT: 6,
} as const;
export type TokenKind = (typeof TOKEN)[keyof typeof TOKEN];

export interface Token {
  kind: TokenKind;
  start: number;
  end: number;
}

const isSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isIdentStart = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c >= 0x80;
const isIdentPart = (c: number): boolean => isIdentStart(c) || isDigit(c) || c === 0x24;
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/** Index after a '...' string whose opening quote is at `q`. `backslash`: E'' escapes. */
function endOfString(s: string, q: number, backslash: boolean): number {
  let i = q + 1;
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (backslash && c === 0x5c) {
      i += 2;
      continue;
    }
    if (c === 0x27) {
      if (s.charCodeAt(i + 1) === 0x27) {
        i += 2; // '' is a quote inside the string
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return n;
}

function endOfQuoted(s: string, q: number): number {
  let i = q + 1;
  const n = s.length;
  while (i < n) {
    if (s.charCodeAt(i) === 0x22) {
      if (s.charCodeAt(i + 1) === 0x22) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return n;
}

/** A dollar-quote tag at `i` ("$$" or "$tag$"): its length, or 0 when `$` starts none. */
function dollarTag(s: string, i: number): number {
  let j = i + 1;
  if (j < s.length && !isIdentStart(s.charCodeAt(j)) && s.charCodeAt(j) !== 0x24) return 0;
  while (j < s.length && s.charCodeAt(j) !== 0x24) {
    const c = s.charCodeAt(j);
    if (!(isIdentStart(c) || isDigit(c))) return 0;
    j++;
  }
  return j < s.length ? j - i + 1 : 0;
}

function endOfNumber(s: string, i: number): number {
  const n = s.length;
  const c1 = s.charCodeAt(i + 1) | 0x20;
  if (s.charCodeAt(i) === 0x30 && (c1 === 0x78 || c1 === 0x6f || c1 === 0x62) && i + 2 < n && isHex(s.charCodeAt(i + 2))) {
    // 0x1F, 0o17, 0b101 (PostgreSQL 16)
    let j = i + 2;
    while (j < n && (isHex(s.charCodeAt(j)) || s.charCodeAt(j) === 0x5f)) j++;
    return j;
  }
  let j = i;
  while (j < n && (isDigit(s.charCodeAt(j)) || s.charCodeAt(j) === 0x5f)) j++;
  if (j < n && s.charCodeAt(j) === 0x2e && s.charCodeAt(j + 1) !== 0x2e) {
    j++;
    while (j < n && (isDigit(s.charCodeAt(j)) || s.charCodeAt(j) === 0x5f)) j++;
  }
  if (j < n && (s.charCodeAt(j) | 0x20) === 0x65) {
    let k = j + 1;
    if (s.charCodeAt(k) === 0x2b || s.charCodeAt(k) === 0x2d) k++;
    if (k < n && isDigit(s.charCodeAt(k))) {
      while (k < n && isDigit(s.charCodeAt(k))) k++;
      j = k;
    }
  }
  return j;
}

/** The tokens of `s` (whitespace between them is not a token). */
export function tokenize(s: string): Token[] {
  const out: Token[] = [];
  const n = s.length;
  let i = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    const start = i;
    const next = s.charCodeAt(i + 1);
    let kind: TokenKind;
    if (c === 0x2d && next === 0x2d) {
      // -- comment to the end of the line
      kind = TOKEN.COMMENT;
      while (i < n && s.charCodeAt(i) !== 0x0a) i++;
    } else if (c === 0x2f && next === 0x2a) {
      // /* comments */ nest in PostgreSQL
      kind = TOKEN.COMMENT;
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        const d = s.charCodeAt(i);
        if (d === 0x2f && s.charCodeAt(i + 1) === 0x2a) (depth++, (i += 2));
        else if (d === 0x2a && s.charCodeAt(i + 1) === 0x2f) (depth--, (i += 2));
        else i++;
      }
    } else if (c === 0x27) {
      kind = TOKEN.STRING;
      i = endOfString(s, i, false);
    } else if ((c | 0x20) === 0x65 && next === 0x27) {
      kind = TOKEN.STRING; // E'escape\'s'
      i = endOfString(s, i + 1, true);
    } else if (((c | 0x20) === 0x62 || (c | 0x20) === 0x78 || (c | 0x20) === 0x6e) && next === 0x27) {
      kind = TOKEN.STRING; // B'0101', X'1F', N'national'
      i = endOfString(s, i + 1, false);
    } else if ((c | 0x20) === 0x75 && next === 0x26 && s.charCodeAt(i + 2) === 0x27) {
      kind = TOKEN.STRING; // U&'d\0061t\+000061'
      i = endOfString(s, i + 2, false);
    } else if ((c | 0x20) === 0x75 && next === 0x26 && s.charCodeAt(i + 2) === 0x22) {
      kind = TOKEN.QUOTED;
      i = endOfQuoted(s, i + 2);
    } else if (c === 0x22) {
      kind = TOKEN.QUOTED;
      i = endOfQuoted(s, i);
    } else if (c === 0x24 && isDigit(next)) {
      kind = TOKEN.PARAM;
      i++;
      while (i < n && isDigit(s.charCodeAt(i))) i++;
    } else if (c === 0x24 && dollarTag(s, i) > 0) {
      kind = TOKEN.STRING; // $$body$$ or $fn$body$fn$
      const tag = s.slice(i, i + dollarTag(s, i));
      const close = s.indexOf(tag, i + tag.length);
      i = close < 0 ? n : close + tag.length;
    } else if (isDigit(c) || (c === 0x2e && isDigit(next))) {
      kind = TOKEN.NUMBER;
      i = endOfNumber(s, i);
    } else if (isIdentStart(c)) {
      kind = TOKEN.WORD;
      i++;
      while (i < n && isIdentPart(s.charCodeAt(i))) i++;
    } else {
      kind = TOKEN.PUNCT;
      i += c === 0x3a && next === 0x3a ? 2 : 1;
    }
    out.push({ kind, start, end: i });
  }
  return out;
}

function isBooleanLiteral(s: string, t: Token): boolean {
  const len = t.end - t.start;
  if (t.kind !== TOKEN.WORD || (len !== 4 && len !== 5)) return false;
  const w = s.slice(t.start, t.end).toLowerCase();
  return w === 'true' || w === 'false';
}

/**
 * The query with every literal replaced by `?`: strings in all their forms (escaped quotes and
 * dollar quoting included), numbers, booleans. Comments are removed (they can carry anything).
 * Keywords, identifiers, operators, `$n` placeholders and the spacing between them stay as written.
 */
export function sanitizeSql(s: string, tokens: Token[] = tokenize(s)): string {
  let out = '';
  let last = 0;
  let afterComment = false;
  for (const t of tokens) {
    let gap = s.slice(last, t.start);
    last = t.end;
    // Where a comment was, one space keeps its neighbours apart.
    if (afterComment && (out.length === 0 || isSpace(out.charCodeAt(out.length - 1)))) gap = gap.trimStart();
    if (t.kind === TOKEN.COMMENT) {
      out += gap;
      if (out.length > 0 && !isSpace(out.charCodeAt(out.length - 1))) out += ' ';
      afterComment = true;
      continue;
    }
    afterComment = false;
    out += gap;
    if (t.kind === TOKEN.STRING || t.kind === TOKEN.NUMBER || isBooleanLiteral(s, t)) out += '?';
    else out += s.slice(t.start, t.end);
  }
  return (out + s.slice(last)).trim();
}

// --- analysis ------------------------------------------------------------------------------------

export interface StatementInfo {
  /** The statement's command: SELECT, INSERT, CREATE, BEGIN, COPY... (upper case). */
  operation: string | null;
  /** The one table the statement works on, as written (schema-qualified if it was); null when it
   * names none, several, or reads from a subquery or function. */
  collection: string | null;
  /** CALL's procedure. */
  procedure: string | null;
  /** Operations and targets in the order written (the semantic conventions' query summary). */
  summary: string;
}

export interface QueryInfo {
  statements: StatementInfo[];
  /** db.operation.name: the statement's operation; BATCH [op] for several statements. */
  operation: string | null;
  collection: string | null;
  procedure: string | null;
  /** db.query.summary: at most 255 characters, cut between words. */
  summary: string | null;
  /** Statements in a multi-statement string (>= 2), else null. */
  batchSize: number | null;
  /** A sqlcommenter `traceparent='…'` comment (https://google.github.io/sqlcommenter/spec/). */
  traceparent: string | null;
}

/** Words that end a FROM item's alias position or cannot be a table name. */
const CLAUSE_WORDS = new Set([
  'WHERE', 'JOIN', 'INNER', 'LEFT', 'RIGHT', 'FULL', 'OUTER', 'CROSS', 'NATURAL', 'ON', 'USING', 'GROUP', 'ORDER', 'LIMIT',
  'OFFSET', 'HAVING', 'WINDOW', 'UNION', 'INTERSECT', 'EXCEPT', 'FOR', 'RETURNING', 'SET', 'WHEN', 'THEN', 'FETCH',
  'TABLESAMPLE', 'SELECT', 'VALUES', 'FROM', 'INTO', 'AS', 'LATERAL', 'ONLY', 'DEFAULT', 'DO', 'AND', 'OR', 'NOT', 'IN', 'IS',
  'LIKE', 'ILIKE', 'BETWEEN', 'CASE', 'END', 'WITH', 'ELSE', 'OVERRIDING', 'CONFLICT', 'STDIN', 'STDOUT', 'IF', 'EXISTS',
]);

/** Data-manipulating operations that may nest (subqueries, CTEs, INSERT … SELECT). */
const DML = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'VALUES']);

/** After these words, INSERT/UPDATE/DELETE/SELECT name a privilege, an event or a lock mode. */
const NOT_AN_OPERATION_AFTER = new Set(['FOR', 'KEY', 'DO', 'ON', 'OF', 'OR', 'BEFORE', 'AFTER', 'INSTEAD', 'GRANT', 'REVOKE', 'THEN', 'NO', ',']);

const MAX_SUMMARY = 255;
const MAX_STATEMENTS = 64;

interface Walk {
  s: string;
  t: Token[];
  words: string[];
}

class StatementWalk {
  parts: string[] = [];
  targets = new Set<string>();
  ambiguous = false;
  operation: string | null = null;
  procedure: string | null = null;

  constructor(private readonly w: Walk) {}

  word(i: number): string {
    return this.w.words[i] ?? '';
  }

  text(i: number): string {
    const t = this.w.t[i];
    return t === undefined ? '' : this.w.s.slice(t.start, t.end);
  }

  isPunct(i: number, p: string): boolean {
    const t = this.w.t[i];
    return t !== undefined && t.kind === TOKEN.PUNCT && this.text(i) === p;
  }

  isName(i: number): boolean {
    const t = this.w.t[i];
    if (t === undefined) return false;
    if (t.kind === TOKEN.QUOTED) return true;
    return t.kind === TOKEN.WORD && !CLAUSE_WORDS.has(this.word(i)) && !DML.has(this.word(i));
  }

  /** A possibly qualified name at i: its text and the index after it; null if none. */
  name(i: number): { text: string; next: number } | null {
    if (!this.isName(i)) return null;
    let text = this.text(i);
    let j = i + 1;
    while (this.isPunct(j, '.') && (this.w.t[j + 1]?.kind === TOKEN.WORD || this.w.t[j + 1]?.kind === TOKEN.QUOTED)) {
      text += `.${this.text(j + 1)}`;
      j += 2;
    }
    return { text, next: j };
  }

  target(text: string): void {
    this.parts.push(text);
    this.targets.add(text);
  }

  /** One FROM/JOIN item at i; returns the index after it (and its alias). */
  fromItem(i: number): number {
    while (this.word(i) === 'ONLY') i++;
    if (this.word(i) === 'LATERAL' || this.isPunct(i, '(')) {
      // A subquery or function: an anonymous table. Its own operations are walked as they come.
      this.ambiguous = true;
      return i;
    }
    const n = this.name(i);
    if (n === null) return i;
    if (this.isPunct(n.next, '(')) {
      this.ambiguous = true; // FROM generate_series(…): a function, not a table
      return n.next;
    }
    this.target(n.text);
    let j = n.next;
    if (this.isPunct(j, '*')) j++; // inheritance: FROM t *
    if (this.word(j) === 'AS') j++;
    if (this.isName(j)) {
      j++; // alias
      if (this.isPunct(j, '(')) j = this.skipParens(j); // column aliases: t AS x(a, b)
    }
    return j;
  }

  /** Index after the parenthesis that closes the one at i. */
  skipParens(i: number): number {
    let depth = 0;
    for (let j = i; j < this.w.t.length; j++) {
      if (this.isPunct(j, '(')) depth++;
      else if (this.isPunct(j, ')') && --depth === 0) return j + 1;
    }
    return this.w.t.length;
  }

  fromList(i: number): number {
    let j = this.fromItem(i);
    while (this.isPunct(j, ',')) j = this.fromItem(j + 1);
    return j;
  }

  /** Table names after TABLE/TRUNCATE/DROP: IF [NOT] EXISTS, ONLY, then a comma-separated list. */
  tableList(i: number, many: boolean): void {
    let j = i;
    for (;;) {
      while (this.word(j) === 'IF' || this.word(j) === 'NOT' || this.word(j) === 'EXISTS' || this.word(j) === 'ONLY') j++;
      const n = this.name(j);
      if (n === null) return;
      this.target(n.text);
      j = n.next;
      if (this.isPunct(j, '*')) j++;
      if (!many || !this.isPunct(j, ',')) return;
      j++;
    }
  }

  isOperationAt(i: number, first: number): boolean {
    if (i === first) return true;
    const prev = this.w.t[i - 1];
    if (prev === undefined) return true;
    const p = prev.kind === TOKEN.PUNCT ? this.text(i - 1) : this.word(i - 1);
    if (p === '(' || p === ')') return true;
    if (NOT_AN_OPERATION_AFTER.has(p)) return false;
    // INSERT INTO t SELECT / UNION [ALL] SELECT / EXPLAIN ANALYZE SELECT / CREATE TABLE t AS SELECT
    return prev.kind === TOKEN.WORD || prev.kind === TOKEN.QUOTED;
  }

  run(first: number, end: number): void {
    const main = this.word(first);
    const lead = this.w.t[first]?.kind === TOKEN.WORD ? main : '';
    if (lead !== '' && lead !== 'WITH' && (!DML.has(lead) || lead === 'VALUES')) {
      this.operation = lead;
      this.parts.push(lead);
    }
    let depth = 0;
    for (let i = first; i < end; i++) {
      const t = this.w.t[i]!;
      if (t.kind === TOKEN.PUNCT) {
        if (this.isPunct(i, '(')) depth++;
        else if (this.isPunct(i, ')')) depth--;
        continue;
      }
      if (t.kind !== TOKEN.WORD) continue;
      const w = this.word(i);
      if (DML.has(w) && w !== 'VALUES' && this.isOperationAt(i, first)) {
        this.operation ??= w;
        this.parts.push(w);
        if (w === 'UPDATE') {
          let j = i + 1;
          while (this.word(j) === 'ONLY') j++;
          const n = this.name(j);
          if (n !== null) this.target(n.text);
        }
        continue;
      }
      switch (w) {
        case 'FROM':
          // COPY t FROM STDIN / 'file'; EXTRACT(YEAR FROM ts), SUBSTRING(s FROM 2): not tables.
          if ((this.operation === 'COPY' && depth === 0) || this.insideFunctionCall(i, first)) break;
          i = Math.max(i, this.fromList(i + 1) - 1);
          break;
        case 'JOIN':
          i = Math.max(i, this.fromItem(i + 1) - 1);
          break;
        case 'INTO': {
          const n = this.name(i + 1);
          if (n !== null && this.word(i - 1) !== 'COPY') this.target(n.text);
          break;
        }
        case 'USING':
          if ((this.operation === 'DELETE' || this.operation === 'MERGE') && !this.isPunct(i + 1, '(')) i = Math.max(i, this.fromItem(i + 1) - 1);
          break;
        case 'TABLE':
          if (i === first) this.tableList(i + 1, false); // TABLE t: SELECT * FROM t
          else if (this.operation === 'CREATE' || this.operation === 'ALTER' || this.operation === 'DROP' || this.operation === 'TRUNCATE' || this.operation === 'LOCK') {
            this.tableList(i + 1, this.operation !== 'CREATE' && this.operation !== 'ALTER');
          }
          break;
        case 'TRUNCATE':
        case 'LOCK':
          if (i === first && this.word(i + 1) !== 'TABLE') this.tableList(i + 1, true);
          break;
        case 'COPY':
          if (i === first && !this.isPunct(i + 1, '(')) {
            const n = this.name(i + 1);
            if (n !== null) this.target(n.text);
          }
          break;
        case 'CALL':
          if (i === first) {
            const n = this.name(i + 1);
            if (n !== null) {
              this.procedure = n.text;
              this.parts.push(n.text);
            }
          }
          break;
        default:
      }
    }
  }

  /** Is token i inside parentheses that open a function's arguments (not a subquery)? */
  insideFunctionCall(i: number, first: number): boolean {
    let depth = 0;
    for (let j = i - 1; j >= first; j--) {
      if (this.isPunct(j, ')')) depth++;
      else if (this.isPunct(j, '(')) {
        if (depth === 0) {
          const inner = this.word(j + 1);
          return !(DML.has(inner) || inner === 'WITH') && this.w.t[j - 1]?.kind === TOKEN.WORD && !CLAUSE_WORDS.has(this.word(j - 1));
        }
        depth--;
      }
    }
    return false;
  }
}

function summarize(parts: string[]): string {
  let out = '';
  for (const p of parts) {
    const next = out === '' ? p : `${out} ${p}`;
    if (next.length > MAX_SUMMARY) break;
    out = next;
  }
  return out;
}

function traceparentIn(s: string, tokens: Token[]): string | null {
  for (const t of tokens) {
    if (t.kind !== TOKEN.COMMENT) continue;
    const m = /traceparent='([^']{1,128})'/.exec(s.slice(t.start, t.end));
    if (m !== null) return decodeURIComponentSafe(m[1]!);
  }
  return null;
}

function decodeURIComponentSafe(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** Operation, tables and summary of a query string (one or several statements). */
export function analyzeSql(s: string, tokens: Token[] = tokenize(s)): QueryInfo {
  const sig = tokens.filter((t) => t.kind !== TOKEN.COMMENT);
  const words = sig.map((t) => (t.kind === TOKEN.WORD ? s.slice(t.start, t.end).toUpperCase() : ''));
  const walk: Walk = { s, t: sig, words };
  const statements: StatementInfo[] = [];
  let begin = 0;
  for (let i = 0; i <= sig.length; i++) {
    const atEnd = i === sig.length;
    if (!atEnd && !(sig[i]!.kind === TOKEN.PUNCT && s.charCodeAt(sig[i]!.start) === 0x3b)) continue;
    if (i > begin && statements.length < MAX_STATEMENTS) {
      const st = new StatementWalk(walk);
      st.run(begin, i);
      const collection = st.targets.size === 1 && !st.ambiguous ? [...st.targets][0]! : null;
      statements.push({ operation: st.operation, collection, procedure: st.procedure, summary: summarize(st.parts) });
    }
    begin = i + 1;
  }
  const info: QueryInfo = { statements, operation: null, collection: null, procedure: null, summary: null, batchSize: null, traceparent: traceparentIn(s, tokens) };
  const first = statements[0];
  if (first === undefined) return info;
  if (statements.length === 1) {
    info.operation = first.operation;
    info.collection = first.collection;
    info.procedure = first.procedure;
    info.summary = first.summary === '' ? null : first.summary;
    return info;
  }
  // Several statements in one Query: a batch (the conventions' BATCH naming).
  const same = <K extends keyof StatementInfo>(k: K): StatementInfo[K] | null => (statements.every((x) => x[k] === first[k]) ? first[k] : null);
  info.batchSize = statements.length;
  const op = same('operation');
  info.operation = op !== null ? `BATCH ${op}` : 'BATCH';
  info.collection = same('collection');
  const summary = same('summary');
  info.summary = summary !== null && summary !== '' ? summarize(['BATCH', summary]) : 'BATCH';
  return info;
}
