// Request-target, Host and forwarding headers → the url.* / server.* / client.* pieces, per RFC 9110
// and RFC 9112 §3.2 (request-target forms) and the OTel HTTP semantic conventions.
import { isIP } from 'node:net';

export interface HostPort {
  /** Host name or IP, IPv6 without brackets. */
  host: string;
  port?: number;
}

export interface ParsedTarget {
  path?: string;
  query?: string;
  /** From an absolute-form target ("http://host:8080/x", sent to proxies) or authority-form (CONNECT). */
  authority?: HostPort;
  /** Scheme of an absolute-form target. */
  scheme?: string;
}

const REG_NAME = /^[A-Za-z0-9\-._~%!$&'()*+,;=]{1,255}$/;

/**
 * Host header values seen lately, parsed: a connection sends the same Host on every request, and
 * parsing took two regexes, slices and an object per exchange. The results are frozen (callers
 * share them); the map is bounded, emptied when full.
 */
const hostPorts = new Map<string, Readonly<HostPort> | null>();
const MAX_HOST_PORTS = 1024;

/** "host", "host:port", "[v6]", "[v6]:port" (RFC 9110 §7.2); null when malformed. The result is shared: never change it. */
export function parseHostPort(value: string): Readonly<HostPort> | null {
  let hp = hostPorts.get(value);
  if (hp === undefined) {
    hp = parseHostPortOnce(value);
    if (hp !== null) Object.freeze(hp);
    if (hostPorts.size >= MAX_HOST_PORTS) hostPorts.clear();
    hostPorts.set(value, hp);
  }
  return hp;
}

function parseHostPortOnce(value: string): HostPort | null {
  const v = value.trim();
  let host: string;
  let rest: string;
  if (v.startsWith('[')) {
    const close = v.indexOf(']');
    if (close < 0) return null;
    host = v.slice(1, close);
    if (isIP(host) !== 6) return null;
    rest = v.slice(close + 1);
  } else {
    const colon = v.indexOf(':');
    host = colon < 0 ? v : v.slice(0, colon);
    rest = colon < 0 ? '' : v.slice(colon);
    if (!REG_NAME.test(host)) return null;
  }
  if (rest === '') return { host };
  if (!/^:[0-9]{1,5}$/.test(rest)) return null;
  const port = Number(rest.slice(1));
  return port > 0 && port <= 65535 ? { host, port } : null;
}

export function defaultPort(scheme: string): number | undefined {
  return scheme === 'http' ? 80 : scheme === 'https' ? 443 : undefined;
}

/** The four request-target forms of RFC 9112 §3.2. */
export function parseTarget(target: string): ParsedTarget {
  if (target.startsWith('/')) return splitPathQuery(target);
  if (target === '*') return {}; // asterisk-form (OPTIONS *): no path
  const abs = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(target);
  if (abs) {
    const [, scheme = '', authorityWithUser = '', rest = ''] = abs;
    // userinfo is never exported (url.full MUST NOT carry credentials).
    const authority = parseHostPort(authorityWithUser.slice(authorityWithUser.lastIndexOf('@') + 1));
    const pq = splitPathQuery(rest === '' ? '/' : rest);
    return { ...pq, scheme: scheme.toLowerCase(), ...(authority ? { authority } : {}) };
  }
  const authority = parseHostPort(target); // authority-form (CONNECT host:port)
  return authority ? { authority } : {};
}

function splitPathQuery(s: string): ParsedTarget {
  const hash = s.indexOf('#');
  const noFragment = hash < 0 ? s : s.slice(0, hash);
  const q = noFragment.indexOf('?');
  if (q < 0) return { path: noFragment };
  const query = noFragment.slice(q + 1);
  return query === '' ? { path: noFragment.slice(0, q) } : { path: noFragment.slice(0, q), query };
}

/** scheme://host[:port]/path[?query], IPv6 bracketed, the scheme's default port left out. */
export function buildUrl(scheme: string, hp: HostPort, path: string | undefined, query: string | undefined): string {
  // Every IPv6 address has a colon; names and IPv4 addresses have none (isIP is a regex match).
  const host = hp.host.includes(':') && isIP(hp.host) === 6 ? `[${hp.host}]` : hp.host;
  const port = hp.port !== undefined && hp.port !== defaultPort(scheme) ? `:${hp.port}` : '';
  return `${scheme}://${host}${port}${path ?? '/'}${query !== undefined ? `?${query}` : ''}`;
}

/**
 * The original client's address from `Forwarded: for=` (RFC 7239) or else `X-Forwarded-For`, first
 * entry, when it is an IP address; obfuscated identifiers ("unknown", "_hidden") are not addresses.
 */
export function forwardedClient(forwarded: string | undefined, xForwardedFor: string | undefined): string | undefined {
  if (forwarded !== undefined) {
    const first = forwarded.split(',', 1)[0] ?? '';
    for (const param of first.split(';')) {
      const eq = param.indexOf('=');
      if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'for') continue;
      let v = param.slice(eq + 1).trim();
      if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
      const ip = stripPort(v);
      if (ip !== undefined) return ip;
    }
  }
  if (xForwardedFor !== undefined) {
    const ip = stripPort((xForwardedFor.split(',', 1)[0] ?? '').trim());
    if (ip !== undefined) return ip;
  }
  return undefined;
}

function stripPort(v: string): string | undefined {
  if (isIP(v) !== 0) return v;
  const hp = parseHostPort(v);
  return hp !== null && isIP(hp.host) !== 0 ? hp.host : undefined;
}
