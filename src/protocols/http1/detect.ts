// Recognising where an HTTP/1.x message starts: the start-line scanner the parser runs on every
// message (in step and while resynchronising), and the first-bytes checks that classify a connection.
// Start lines are RFC 9112 §3 (request-line) and §4 (status-line).

/** tchar (RFC 9110 §5.6.2): what a method or a field name is made of. 1 = allowed. */
export const TCHAR: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (const c of "!#$%&'*+-.^_`|~") t[c.charCodeAt(0)] = 1;
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  return t;
})();

/**
 * Methods of RFC 9110 §9 plus PATCH (RFC 5789): the only ones a resynchronising parser or the
 * classifier trusts (in step, any token is a valid method). PRI is deliberately absent:
 * "PRI * HTTP/2.0" is the HTTP/2 connection preface (RFC 9113 §3.4), not an HTTP/1 request.
 */
export const HTTP1_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'] as const;

/** "METHOD " for each known method: what the parser searches for to find the next request. */
export const METHOD_NEEDLES: readonly Buffer[] = HTTP1_METHODS.map((m) => Buffer.from(`${m} `, 'latin1'));
/** What the parser searches for to find the next response (RFC 9112 §2.3 HTTP-version). */
export const RESPONSE_NEEDLE: Buffer = Buffer.from('HTTP/1.', 'latin1');
/** Longest needle, so a search can keep `NEEDLE_MAX - 1` bytes for a needle split across chunks. */
export const NEEDLE_MAX = Math.max(RESPONSE_NEEDLE.length, ...METHOD_NEEDLES.map((n) => n.length));

/** Longest method the scanner accepts; real ones are under 20 (UPDATEREDIRECTREF is 17). */
export const MAX_METHOD_LENGTH = 32;

const SP = 0x20;
const HTAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;
const DEL = 0x7f;
const VERSION_PREFIX = RESPONSE_NEEDLE; // "HTTP/1." then one DIGIT

// Scanner phases. Request-line = method SP request-target SP HTTP-version CRLF (RFC 9112 §3).
const R_METHOD = 0;
const R_TARGET = 1;
const R_VERSION = 2; // "HTTP/1." DIGIT CR LF, position in `n`
// Status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF (RFC 9112 §4).
const S_VERSION = 10; // "HTTP/1." DIGIT SP
const S_CODE = 11; // 3DIGIT, then SP or CR
const S_REASON = 12;
const S_LF = 13;

export const SCAN_MORE = 0;
export const SCAN_OK = 1;
export const SCAN_BAD = 2;
export type ScanStatus = typeof SCAN_MORE | typeof SCAN_OK | typeof SCAN_BAD;

/**
 * Progress of one start-line scan, so a line split across chunks is examined once. All offsets are
 * relative to the first byte of the line.
 */
export interface StartLineScan {
  phase: number;
  /** Bytes accepted in the current phase. */
  n: number;
  /** Next byte to examine. */
  i: number;
  /** Request: the SP after the method. Response: the SP after the version. -1 until seen. */
  sp1: number;
  /** Request: the SP before the version. Response: the SP after the status code (-1: no reason). */
  sp2: number;
  /** SCAN_OK: just past the LF. SCAN_BAD: the earliest offset where another message could start. */
  end: number;
  /** SCAN_BAD: offset of the byte that failed. */
  bad: number;
}

export function newScan(side: 'request' | 'response'): StartLineScan {
  return { phase: side === 'request' ? R_METHOD : S_VERSION, n: 0, i: 0, sp1: -1, sp2: -1, end: 0, bad: -1 };
}

export function resetScan(s: StartLineScan, side: 'request' | 'response'): void {
  s.phase = side === 'request' ? R_METHOD : S_VERSION;
  s.n = 0;
  s.i = 0;
  s.sp1 = -1;
  s.sp2 = -1;
  s.end = 0;
  s.bad = -1;
}

const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;

/**
 * Examines `buf[start + s.i .. end)` as the start line beginning at `start`. SCAN_MORE: everything
 * seen is valid so far. SCAN_BAD fails at the first byte no start line can contain, so garbage is
 * rejected after a few bytes, not after a whole line; a line longer than `maxLine` is bad too.
 */
export function scanStartLine(side: 'request' | 'response', buf: Uint8Array, start: number, end: number, s: StartLineScan, maxLine: number): ScanStatus {
  const stop = Math.min(end - start, maxLine);
  let i = s.i;
  let phase = s.phase;
  let n = s.n;
  for (; i < stop; i++) {
    const b = buf[start + i]!;
    let ok = true;
    switch (phase) {
      case R_METHOD:
        if (TCHAR[b] === 1) ok = ++n <= MAX_METHOD_LENGTH;
        else if (b === SP && n > 0) (s.sp1 = i), (phase = R_TARGET), (n = 0);
        else ok = false;
        break;
      case R_TARGET:
        // Any visible byte (obs-text included, clients send raw UTF-8); whitespace ends the target.
        if (b > SP && b !== DEL) n++;
        else if (b === SP && n > 0) (s.sp2 = i), (phase = R_VERSION), (n = 0);
        else ok = false;
        break;
      case R_VERSION:
        if (n < 7) ok = b === VERSION_PREFIX[n];
        else if (n === 7) ok = isDigit(b);
        else if (n === 8) ok = b === CR;
        else if (b === LF) return done(s, i);
        else ok = false;
        n++;
        break;
      case S_VERSION:
        if (n < 7) ok = b === VERSION_PREFIX[n];
        else if (n === 7) ok = isDigit(b);
        else if (b === SP) (s.sp1 = i), (phase = S_CODE), (n = -1);
        else ok = false;
        n++;
        break;
      case S_CODE:
        // status-code = 3DIGIT; RFC 9110 §15 only defines 100..599.
        if (n === 0) ok = b >= 0x31 && b <= 0x35;
        else if (n < 3) ok = isDigit(b);
        else if (b === SP) (s.sp2 = i), (phase = S_REASON);
        // Some servers send "HTTP/1.1 200" with no SP before CRLF; clients accept it, so do we.
        else if (b === CR) phase = S_LF;
        else ok = false;
        n++;
        break;
      case S_REASON:
        if (b === CR) phase = S_LF;
        else ok = b === HTAB || (b >= SP && b !== DEL);
        break;
      default: // S_LF
        if (b === LF) return done(s, i);
        ok = false;
    }
    if (!ok) return bad(s, i, b, phase === S_LF || (phase === R_VERSION && n === 10));
  }
  s.i = i;
  s.phase = phase;
  s.n = n;
  if (i >= maxLine) {
    // Too long to be a start line. Nothing inside it is retried: the overflow point is the resume.
    s.bad = maxLine;
    s.end = maxLine;
    return SCAN_BAD;
  }
  return SCAN_MORE;
}

function done(s: StartLineScan, i: number): ScanStatus {
  s.i = i + 1;
  s.end = i + 1;
  return SCAN_OK;
}

/**
 * Where a search for the next message may resume after a failure at offset `i`. A start line
 * cannot contain a control byte other than CR (before LF), LF (after CR) and HTAB (in a reason
 * phrase); so when such a byte fails, every candidate that began before it fails on it too and the
 * search skips past it. This keeps a resynchronising search linear. Anything else: retry at +1.
 */
function bad(s: StartLineScan, i: number, b: number, afterCr: boolean): ScanStatus {
  s.bad = i;
  if (afterCr) s.end = i; // a CR not followed by LF: that CR is fatal to every candidate
  else if (b === LF) s.end = i + 1; // bare LF: nothing before it reached a CR
  else if ((b < SP && b !== HTAB && b !== CR) || b === DEL) s.end = i + 1;
  else s.end = 1;
  return SCAN_BAD;
}

function startsWithMethod(b: Uint8Array): boolean {
  for (const needle of METHOD_NEEDLES) {
    if (b.length < needle.length) continue;
    let i = 0;
    while (i < needle.length && b[i] === needle[i]) i++;
    if (i === needle.length) return true;
  }
  return false;
}

/**
 * Do the first bytes of a stream start an HTTP/1.x request? Needs a known method and its SP, and
 * every byte after must still be a valid request line ("PRI * HTTP/2.0" is not).
 */
export function looksLikeHttp1Request(firstBytes: Uint8Array): boolean {
  if (!startsWithMethod(firstBytes)) return false;
  return scanStartLine('request', firstBytes, 0, firstBytes.length, newScan('request'), 1 << 16) !== SCAN_BAD;
}

/** Do the first bytes of a stream start an HTTP/1.x response? Needs at least "HTTP/1." + DIGIT. */
export function looksLikeHttp1Response(firstBytes: Uint8Array): boolean {
  if (firstBytes.length < VERSION_PREFIX.length + 1) return false;
  return scanStartLine('response', firstBytes, 0, firstBytes.length, newScan('response'), 1 << 16) !== SCAN_BAD;
}
