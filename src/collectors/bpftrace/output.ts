// bpftrace's JSON output (`-f json`: one JSON object per line) as typed messages. Pure and total:
// whatever a line holds, the result is a message or null (not JSON, or not a shape bpftrace
// prints), never an exception.

/** One bucket of hist()/lhist(): integers min..max inclusive; no min below the range, no max above. */
export interface HistBucket {
  min?: number;
  max?: number;
  count: number;
}

export interface StatsValue {
  count: number;
  average: number;
  total: number;
}

/** What a printed map holds: one value, or values by key (tuple keys joined with ","). */
export type MapValue<T> = { scalar: T } | { keyed: Map<string, T> };

export type BpftraceMessage =
  | { type: 'attached'; probes: number }
  | { type: 'printf'; text: string }
  | { type: 'map'; name: string; value: MapValue<number | string> }
  | { type: 'stats'; name: string; value: MapValue<number | StatsValue> }
  | { type: 'hist'; name: string; value: MapValue<HistBucket[]> }
  | { type: 'lost'; events: number }
  | { type: 'text'; text: string };

export function parseOutputLine(line: string): BpftraceMessage | null {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    return null;
  }
  if (!isObject(msg) || typeof msg.type !== 'string') return null;
  const data = msg.data;
  switch (msg.type) {
    case 'attached_probes':
      return isObject(data) && typeof data.probes === 'number' ? { type: 'attached', probes: data.probes } : null;
    case 'printf':
      return typeof data === 'string' ? { type: 'printf', text: data } : null;
    case 'time':
    case 'syscall':
    case 'cat':
    case 'join':
      return typeof data === 'string' ? { type: 'text', text: data } : null;
    case 'lost_events':
      return isObject(data) && typeof data.events === 'number' ? { type: 'lost', events: data.events } : null;
    case 'map':
      return mapMessage(data, 'map', (v) => (typeof v === 'number' || typeof v === 'string' ? v : null));
    case 'stats':
      return mapMessage(data, 'stats', (v) => (typeof v === 'number' ? v : asStats(v)));
    case 'hist':
      return mapMessage(data, 'hist', asBuckets);
    default:
      return null;
  }
}

/** `{"@name": value}` or `{"@name": {"key": value, …}}`, values checked by `as`. */
function mapMessage<K extends 'map' | 'stats' | 'hist', T>(data: unknown, type: K, as: (v: unknown) => T | null): { type: K; name: string; value: MapValue<T> } | null {
  if (!isObject(data)) return null;
  const entries = Object.entries(data);
  if (entries.length !== 1) return null;
  const [rawName, raw] = entries[0] as [string, unknown];
  const name = rawName.startsWith('@') ? rawName.slice(1) : rawName;
  const scalar = as(raw);
  if (scalar !== null) return { type, name, value: { scalar } };
  if (!isObject(raw)) return null;
  const keyed = new Map<string, T>();
  for (const [k, v] of Object.entries(raw)) {
    const value = as(v);
    if (value !== null) keyed.set(k, value);
  }
  return { type, name, value: { keyed } };
}

function asStats(v: unknown): StatsValue | null {
  if (!isObject(v) || typeof v.count !== 'number' || typeof v.average !== 'number' || typeof v.total !== 'number') return null;
  return { count: v.count, average: v.average, total: v.total };
}

function asBuckets(v: unknown): HistBucket[] | null {
  if (!Array.isArray(v)) return null;
  const out: HistBucket[] = [];
  for (const b of v) {
    if (!isObject(b) || typeof b.count !== 'number') return null;
    out.push({ count: b.count, ...(typeof b.min === 'number' ? { min: b.min } : {}), ...(typeof b.max === 'number' ? { max: b.max } : {}) });
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
