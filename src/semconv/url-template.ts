// url.template from the shape of a path, when no configured route (routes.ts) names it: a passive
// observer never sees the application's router, yet a duration metric per raw path would grow with
// every id. Segments that look like values become placeholders, the rest stays:
//
//   /users/123                         → /users/{id}
//   /o/6f1c0a9e4b7d2c35a8e1            → /o/{hash}       (16 or more hex digits)
//   /items/0b9e…-…-…-…-…               → /items/{uuid}
//   /reset/eyJhbGciOi…                 → /reset/{token}  (20+ base64/base64url characters of mixed kinds)
//   /users/bob@example.com/prefs       → /users/{email}/prefs
//   /reports/2024-01-31                → /reports/{date}
//   /files/invoice-20240131.pdf        → /files/{id}     (any run of 4 or more digits)
//
// Segments with short numbers inside words stay (/v2/api, /mp3): they are names, not values.
// Configured patterns (`http.url_template_patterns`, name → a regular expression matching a whole
// segment) are tried first, so an application's own kinds of id (`SKU-1A2B`) get their own name.
//
// Cardinality: at most `limit` distinct templates per resource (one traced process: what the
// duration histograms are grouped by); a path whose template would be one more becomes OVERFLOW,
// counted in stats(). Cost per exchange: one Map lookup for a path seen before (the path → shape
// cache is bounded: cleared when full), one Set lookup per resource; a new path is one char scan
// per segment, regular expressions only for configured patterns.

/** The template past the per-resource limit. */
export const OVERFLOW_TEMPLATE = '/{other}';
export const DEFAULT_TEMPLATE_LIMIT = 200;
/** A run of this many digits is a value wherever it appears in a segment. */
export const MAX_DIGIT_RUN = 4;
const MIN_HEX = 16;
const MIN_TOKEN = 20;
const PATH_CACHE = 10_000;
/** Resources with their own template sets; past it the oldest set is forgotten (it starts again). */
const MAX_RESOURCES = 4096;

export interface SegmentPattern {
  /** The placeholder's name: `{name}`. */
  name: string;
  /** Tested against one whole segment (anchor it: ^…$). */
  pattern: RegExp;
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isLower = (c: number): boolean => c >= 97 && c <= 122;
const isUpper = (c: number): boolean => c >= 65 && c <= 90;
const isHexLetter = (c: number): boolean => (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
const DASH = 45;
const DOT = 46;
/** base64 and base64url: letters, digits, + / _ - =; dots join JWT parts. */
const isTokenChar = (c: number): boolean => isDigit(c) || isLower(c) || isUpper(c) || c === 43 || c === 95 || c === DASH || c === 61 || c === DOT;

function isUuid(s: string): boolean {
  if (s.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = s.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== DASH) return false;
    } else if (!isDigit(c) && !isHexLetter(c)) return false;
  }
  return true;
}

/** YYYY-MM-DD, optionally followed by a time (2024-01-31T10:00:00Z). */
function isDate(s: string): boolean {
  if (s.length < 10 || s.charCodeAt(4) !== DASH || s.charCodeAt(7) !== DASH) return false;
  for (const i of [0, 1, 2, 3, 5, 6, 8, 9]) if (!isDigit(s.charCodeAt(i))) return false;
  return s.length === 10 || s[10] === 'T' || s[10] === 't' || s[10] === ' ' || s[10] === '_';
}

/** The placeholder for one segment, or null when the segment is a name to keep. */
export function segmentPlaceholder(seg: string, patterns: readonly SegmentPattern[] = []): string | null {
  if (seg === '') return null;
  for (const p of patterns) if (p.pattern.test(seg)) return `{${p.name}}`;
  let digits = 0;
  let hex = 0;
  let upper = 0;
  let lower = 0;
  let run = 0;
  let maxRun = 0;
  let hexDashRun = 0; // hex digits and dashes in a row (a UUID inside a longer segment)
  let hexDashDigits = 0;
  let maxHexDash = 0;
  let tokenChars = 0;
  let at = -1;
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i);
    if (isDigit(c)) {
      digits++;
      hex++;
      run++;
      if (run > maxRun) maxRun = run;
    } else {
      run = 0;
      if (isHexLetter(c)) hex++;
      if (isUpper(c)) upper++;
      else if (isLower(c)) lower++;
      else if (c === 64) at = i; // '@'
      else if (c === 37 && seg.charCodeAt(i + 1) === 52 && seg.charCodeAt(i + 2) === 48) at = i; // %40
    }
    if (isDigit(c) || isHexLetter(c) || c === DASH) {
      hexDashRun++;
      if (isDigit(c)) hexDashDigits++;
      if (hexDashRun >= MIN_HEX + 4 && hexDashDigits > 0 && hexDashRun > maxHexDash) maxHexDash = hexDashRun;
    } else {
      hexDashRun = 0;
      hexDashDigits = 0;
    }
    if (isTokenChar(c)) tokenChars++;
  }
  const n = seg.length;
  if (digits === n) return '{id}';
  if (isUuid(seg)) return '{uuid}';
  if (isDate(seg)) return '{date}';
  if (at > 0 && seg.indexOf('.', at) > at + 1) return '{email}';
  if (hex === n && n >= MIN_HEX) return '{hash}';
  if (maxRun >= MAX_DIGIT_RUN || maxHexDash > 0) return '{id}';
  if (tokenChars === n && n >= MIN_TOKEN && ((digits > 0 && upper > 0 && lower > 0) || (n >= 32 && upper >= 4 && lower >= 4))) return '{token}';
  return null;
}

/** The path with every value-like segment replaced (no limit, no cache). */
export function pathTemplate(path: string, patterns: readonly SegmentPattern[] = []): string {
  let out = '';
  let start = 0;
  let changed = false;
  for (;;) {
    const slash = path.indexOf('/', start);
    const end = slash < 0 ? path.length : slash;
    const seg = path.slice(start, end);
    const p = segmentPlaceholder(seg, patterns);
    if (p !== null) changed = true;
    out += p ?? seg;
    if (slash < 0) break;
    out += '/';
    start = slash + 1;
  }
  return changed ? out : path;
}

export interface UrlTemplaterOptions {
  /** Distinct templates per resource before OVERFLOW_TEMPLATE (default DEFAULT_TEMPLATE_LIMIT). */
  limit?: number;
  /** Tried before the built-in shapes, in order. */
  patterns?: readonly SegmentPattern[];
}

export interface UrlTemplaterStats {
  /** Distinct templates held, over every resource. */
  url_templates: number;
  /** Exchanges whose template was OVERFLOW_TEMPLATE because their resource had `limit` already. */
  url_templates_overflow: number;
}

export interface UrlTemplater {
  /** The path's template for this resource (its key): a shape, or OVERFLOW_TEMPLATE past the limit. */
  template(path: string, resourceKey: string): string;
  stats(): UrlTemplaterStats;
}

export function urlTemplater(opts: UrlTemplaterOptions = {}): UrlTemplater {
  const limit = opts.limit ?? DEFAULT_TEMPLATE_LIMIT;
  const patterns = opts.patterns ?? [];
  const shapes = new Map<string, string>();
  const perResource = new Map<string, Set<string>>();
  let held = 0;
  let overflow = 0;
  return {
    template(path, resourceKey) {
      let shape = shapes.get(path);
      if (shape === undefined) {
        shape = pathTemplate(path, patterns);
        if (shapes.size >= PATH_CACHE) shapes.clear();
        shapes.set(path, shape);
      }
      let seen = perResource.get(resourceKey);
      if (seen === undefined) {
        if (perResource.size >= MAX_RESOURCES) {
          const oldest = perResource.keys().next().value as string;
          held -= perResource.get(oldest)!.size;
          perResource.delete(oldest);
        }
        seen = new Set();
        perResource.set(resourceKey, seen);
      }
      if (seen.has(shape)) return shape;
      if (seen.size >= limit) {
        overflow++;
        return OVERFLOW_TEMPLATE;
      }
      seen.add(shape);
      held++;
      return shape;
    },
    stats: () => ({ url_templates: held, url_templates_overflow: overflow }),
  };
}
