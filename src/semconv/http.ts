// HTTP exchanges → spans and duration measurements, following the stable OTel HTTP semantic
// conventions (https://opentelemetry.io/docs/specs/semconv/http/http-spans/, .../http-metrics/).
// Pure: no clock, no I/O; ids come from the caller.
//
// Privacy: the header values that leave are Host (server.address/port, url.full), User-Agent
// (user_agent.original), traceparent and tracestate (the span's parent and trace state: W3C trace
// context, made to be passed on) and, on server spans, the first address of Forwarded /
// X-Forwarded-For as client.address (an IP address only, never the header's other text; see below).
// Authorization, Cookie, Set-Cookie, API keys and every other header stay in the agent unless a
// header is named in captureRequestHeaders/captureResponseHeaders, and even then credentials are
// replaced by REDACTED (redaction.ts). Credential-carrying query parameters are redacted in
// url.query/url.full (redaction.ts: by name pattern, and the configuration's names), URL userinfo
// is never exported.
//
// Decisions the conventions leave open:
// - traceparent on CLIENT spans: the header was injected by the instrumented application, its
//   parent-id is the id of the application's own client span. Lantern's client span joins that trace
//   as a child of it (the same request seen from the socket), so the trace shows app span → Lantern
//   span; the server's span remains a child of the application's span, a sibling of ours. Taking the
//   same span id would collide, and starting a new trace would split one request over two traces.
// - client.address on SERVER spans: the first entry of `Forwarded: for=` or else `X-Forwarded-For`
//   when it is an IP address (what the conventions ask for: the original client behind proxies),
//   otherwise the socket's remote address. The header is client-controlled, so network.peer.address
//   always carries the real socket peer; set trustForwardedFor: false (`http.trust_forwarded_for`)
//   to ignore the headers. Kept by default: the address is the same kind of data as the socket peer
//   the span carries anyway, and without it every request behind a proxy has the proxy's address.
// - http.route only from templates the configuration names (`http.routes`, routes.ts): the router
//   is the application's, a socket shows the raw path only, and the conventions say http.route
//   MUST NOT be populated when the framework does not give it. Paths no template matches get
//   url.template instead (the conventions' "low-cardinality template of an absolute path
//   reference"), guessed from the path's shape (url-template.ts: /users/123 → /users/{id}), at most
//   a configured number per resource (past it: /{other}); on spans and on both duration metrics.
//   `http.route_heuristic: true` (routeHeuristic) makes the guess a server's http.route too, and
//   its span name (as Beyla's route heuristic does); url.template then says where it came from.
//   Client span names stay the method alone: a guess is not what the application called.
// - no response (connection closed, or the exchange was evicted, first): status Error with
//   error.type "response_missing" (a low-cardinality component-specific identifier, as error.type
//   allows), the span ends with the request's last byte.
// - connection role 'unknown': span kind INTERNAL with server-side status rules, no url.full or
//   client.address, and no duration metric (it would have to guess between server and client).
import type { ConnectionInfo } from '../model/connection.js';
import type { HttpExchange } from '../model/http.js';
import type { Attributes, HistogramPoint, ResourceRecord, SpanKind, SpanRecord } from '../model/span.js';
import { capturedHeaderAttributes } from './headers.js';
import { type IdSource, randomIds } from './ids.js';
import { newSpanRecord } from './span-record.js';
import { traceContextFromHeaders } from './traceparent.js';
import { type Redaction, redactQuery } from './redaction.js';
import type { RouteTable } from './routes.js';
import type { UrlTemplater } from './url-template.js';
import { type HostPort, buildUrl, defaultPort, forwardedClient, parseHostPort, parseTarget } from './url.js';

export interface HttpSemconvOptions {
  /** url.scheme when the request does not say; default 'https' on TLS connections, else 'http'. */
  scheme?: 'http' | 'https';
  /** Route templates ("/users/{id}") giving a server span's http.route; never a raw path. */
  routes?: RouteTable;
  /** url.template from the path's shape, when no route matches (and none is configured for clients). */
  urlTemplates?: UrlTemplater;
  /** The guessed template is a server's http.route too (and names its span); default false. */
  routeHeuristic?: boolean;
  /** client.address from Forwarded / X-Forwarded-For (default true). */
  trustForwardedFor?: boolean;
  /** Export these request headers as http.request.header.<name> (credentials redacted). */
  captureRequestHeaders?: readonly string[];
  /** Export these response headers as http.response.header.<name> (credentials redacted). */
  captureResponseHeaders?: readonly string[];
  /** Which query parameters and captured headers are secrets (default: the built-in names). */
  redaction?: Redaction;
}

/** error.type of an exchange whose response never came. */
export const RESPONSE_MISSING = 'response_missing';

export const HTTP_SERVER_DURATION = 'http.server.request.duration';
export const HTTP_CLIENT_DURATION = 'http.client.request.duration';

/** Methods of RFC 9110 §9 and PATCH (RFC 5789); case-sensitive, as the conventions require. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/** What spans and metrics share, computed once per exchange (and kept while its inputs repeat). */
interface HttpView {
  kind: SpanKind;
  method: string;
  methodOriginal?: string;
  scheme: string;
  path?: string;
  query?: string;
  route?: string;
  template?: string;
  server?: HostPort;
  statusCode?: number;
  errorType?: string;
  protocolVersion?: string;
  /** The server's address is the socket's (no Host, no absolute target): the view is its connection's alone. */
  serverFromSocket: boolean;
}

/**
 * Per connection, what its last exchange's view and attributes were made of, and them. Keep-alive
 * traffic repeats itself: the same method, target and Host on a connection, answered with the same
 * status, request after request. While an exchange's inputs equal the last one's (compared as values,
 * a few string comparisons), its view is the last one's, and so are its span's and its duration's
 * attributes: the same objects, frozen once shared, which the encoders encode once per object
 * (otlp-common.ts) instead of ~15 attributes built, copied into every span and encoded again for
 * every destination. Any difference (another path, status or User-Agent, a body of another size)
 * makes them afresh. Not with header capture configured: those values are not compared.
 */
interface ExchangeMemo {
  opts: HttpSemconvOptions;
  resource: ResourceRecord;
  role: ConnectionInfo['role'];
  tls: boolean;
  method: string;
  target: string;
  version: string;
  host: string | undefined;
  statusCode: number | undefined;
  view: HttpView;
  /** The span's attributes and what they hold besides the view's; null until a span is made. */
  span: SpanInputs | null;
  metric: SharedSet | null;
}

/**
 * An attribute set that records may come to share, and whether it is frozen yet (shared): kept, so
 * that a set shared again costs no Object.isFrozen (a call into V8's runtime, not inlined: with
 * Object.freeze and the encoders' checks ~1.4 % of the agent's JS thread under keep-alive load).
 */
interface SharedSet {
  attributes: Attributes;
  frozen: boolean;
}

/** What a span's attributes were made of besides the view: header values, sizes, the socket's peer. */
interface SpanInputs extends SharedSet {
  forwarded: string | undefined;
  forwardedFor: string | undefined;
  userAgent: string | undefined;
  requestBody: number;
  responseBody: number | undefined;
  /** The connection they were made for: another one's must have the same peer and transport. */
  connection: ConnectionInfo;
}

/** Whether attributes made for connection `a` hold what `b`'s would (client.address, network.*). */
function samePeer(a: ConnectionInfo, b: ConnectionInfo): boolean {
  return a === b || (a.remote.address === b.remote.address && a.remote.port === b.remote.port && a.family === b.family && a.transport === b.transport);
}

const memos = new WeakMap<ConnectionInfo, ExchangeMemo>();
/**
 * The memo made or found last, and its connection: an exchange's duration point and its span ask
 * for it one after the other. A connection's first exchange is remembered only here, not in `memos`:
 * with a connection per request there is no second, and an entry per connection was a WeakMap
 * insertion, and a table that grew with every new connection, for nothing.
 */
let lastConnection: ConnectionInfo | null = null;
let lastMemo: ExchangeMemo | undefined;
/**
 * By resource, the memo whose view was made last. A client that opens a connection per request
 * sends the same request on each: the new connection's first exchange takes this memo's view,
 * duration attributes and, when the peer is the same too, span attributes (shared and frozen, so
 * encoded once), unless the view holds its connection's own ends (serverFromSocket). Only a view
 * made afresh is stored: one WeakMap insertion per new view, not per connection.
 */
const lastViews = new WeakMap<ResourceRecord, ExchangeMemo>();

/** Whether `m` was made of the same inputs as `ex`'s view (`host`: its request's Host). */
function sameView(m: ExchangeMemo, ex: HttpExchange, opts: HttpSemconvOptions, resource: ResourceRecord, host: string | undefined): boolean {
  const { request, connection } = ex;
  return m.opts === opts && m.resource === resource && m.role === connection.role && m.tls === (connection.tls !== undefined) &&
    m.method === request.method && m.target === request.target && m.version === request.version &&
    m.statusCode === ex.response?.statusCode && m.host === host;
}

/** The exchange's memo, made afresh unless its inputs repeat the last exchange's on its connection. */
function memoOf(ex: HttpExchange, opts: HttpSemconvOptions, resource: ResourceRecord): ExchangeMemo {
  const { request, connection } = ex;
  // Looked up once: the comparison, and a new view, both need it.
  const host = request.headers.get('host');
  const m = connection === lastConnection ? lastMemo : memos.get(connection);
  if (m !== undefined && sameView(m, ex, opts, resource, host)) {
    lastConnection = connection;
    lastMemo = m;
    return m;
  }
  const other = lastViews.get(resource);
  const alike = other !== undefined && !other.view.serverFromSocket && sameView(other, ex, opts, resource, host) ? other : undefined;
  const fresh: ExchangeMemo = {
    opts, resource, role: connection.role, tls: connection.tls !== undefined, method: request.method, target: request.target,
    version: request.version, host, statusCode: ex.response?.statusCode,
    view: alike?.view ?? computeView(ex, opts, resource, host), span: alike?.span ?? null, metric: alike?.metric ?? null,
  };
  if (alike === undefined) lastViews.set(resource, fresh);
  if (ex.ordinal > 0) memos.set(connection, fresh);
  lastConnection = connection;
  lastMemo = fresh;
  return fresh;
}

function spanKind(ex: HttpExchange): SpanKind {
  return ex.connection.role === 'server' ? 'server' : ex.connection.role === 'client' ? 'client' : 'internal';
}

function errorType(kind: SpanKind, statusCode: number | undefined): string | undefined {
  if (statusCode === undefined) return RESPONSE_MISSING;
  // 5xx: the server failed, an error for both sides. 4xx: the client's error, not the server's.
  if (statusCode >= 500 || statusCode < 100) return String(statusCode);
  if (statusCode >= 400 && kind === 'client') return String(statusCode);
  return undefined;
}

/** `host`: the request's Host field, if any. */
function computeView(ex: HttpExchange, opts: HttpSemconvOptions, resource: ResourceRecord, host: string | undefined): HttpView {
  const { request, response, connection } = ex;
  const kind = spanKind(ex);
  const known = KNOWN_METHODS.has(request.method);
  const target = parseTarget(request.target);
  const scheme = target.scheme === 'http' || target.scheme === 'https' ? target.scheme : (opts.scheme ?? (connection.tls !== undefined ? 'https' : 'http'));

  // The origin server: an absolute-form target wins over Host (RFC 9112 §3.2.2), Host over the socket.
  let server: HostPort | undefined = target.authority;
  if (server === undefined) server = host !== undefined ? (parseHostPort(host) ?? undefined) : undefined;
  if (server !== undefined && server.port === undefined) {
    const port = defaultPort(scheme); // "Host: example.com" means the scheme's default port
    if (port !== undefined) server = { ...server, port };
  }
  const serverFromSocket = server === undefined;
  if (server === undefined) {
    const end = kind === 'client' ? connection.remote : connection.local;
    if (end.address !== '') server = connection.family === 'unix' || end.port <= 0 ? { host: end.address } : { host: end.address, port: end.port };
  }

  const statusCode = response?.statusCode;
  const v: HttpView = {
    kind,
    method: known ? request.method : '_OTHER',
    scheme,
    statusCode,
    errorType: errorType(kind, statusCode),
    serverFromSocket,
  };
  if (!known) v.methodOriginal = request.method;
  if (target.path !== undefined) v.path = target.path;
  if (target.query !== undefined) v.query = redactQuery(target.query, opts.redaction);
  if (kind === 'server' && target.path !== undefined && opts.routes !== undefined) {
    const route = opts.routes.match(target.path);
    if (route !== undefined) v.route = route;
  }
  if (v.route === undefined && target.path !== undefined && opts.urlTemplates !== undefined) {
    v.template = opts.urlTemplates.template(target.path, resource.key);
    if (kind === 'server' && opts.routeHeuristic === true) v.route = v.template;
  }
  if (server !== undefined) v.server = server;
  if (request.version === '1.1' || request.version === '1.0' || request.version === '2') v.protocolVersion = request.version;
  return v;
}

/** Span statuses, shared by every span (frozen: a status is replaced, never changed in place); one
 * object less per span held until export. */
const STATUS_UNSET: SpanRecord['status'] = Object.freeze({ code: 'unset' });
const STATUS_ERROR: SpanRecord['status'] = Object.freeze({ code: 'error' });
const STATUS_NO_RESPONSE: SpanRecord['status'] = Object.freeze({ code: 'error', message: 'no response before the connection closed or the exchange was evicted' });

/** Shared default, so that an exchange's memo is reused between its metrics and its span (and the next exchange). */
const NO_OPTIONS: HttpSemconvOptions = Object.freeze({});

/** A finished HTTP exchange as one span, joined to the caller's trace when the request carries one. */
export function httpExchangeToSpan(
  ex: HttpExchange, resource: ResourceRecord, ids: IdSource = randomIds, opts: HttpSemconvOptions = NO_OPTIONS,
): SpanRecord {
  const m = memoOf(ex, opts, resource);
  const v = m.view;
  const { request, response } = ex;
  const startNs = request.startNs;
  const endNs = response?.endNs ?? request.endNs;
  const ctx = traceContextFromHeaders(request.headers);
  const span = newSpanRecord(ids, ctx?.parent,
    // _OTHER methods are named "HTTP"; the route, never the raw path, completes a server span's name.
    `${v.methodOriginal !== undefined ? 'HTTP' : v.method}${v.route !== undefined ? ` ${v.route}` : ''}`,
    v.kind, startNs, endNs, spanAttributes(m, ex, opts),
    // The status description is left empty when http.response.status_code says it all.
    v.errorType === undefined ? STATUS_UNSET : response === null ? STATUS_NO_RESPONSE : STATUS_ERROR,
    resource);
  if (ctx?.traceState !== undefined) span.traceState = ctx.traceState;
  return span;
}

/**
 * The span's attributes: the memo's when the headers and sizes they hold repeat too (frozen, shared
 * by every span that has them), else made and kept for the next exchange (frozen as well), or, with
 * header capture configured, made for this span alone.
 */
function spanAttributes(m: ExchangeMemo, ex: HttpExchange, opts: HttpSemconvOptions): Attributes {
  const { request, response } = ex;
  const headers = request.headers;
  const trustForwarded = m.view.kind === 'server' && opts.trustForwardedFor !== false;
  const forwarded = trustForwarded ? headers.get('forwarded') : undefined;
  const forwardedFor = trustForwarded ? headers.get('x-forwarded-for') : undefined;
  const userAgent = headers.get('user-agent');
  const responseBody = response?.bodySize;
  const captures = opts.captureRequestHeaders !== undefined || opts.captureResponseHeaders !== undefined;
  const last = m.span;
  if (!captures && last !== null && last.forwarded === forwarded && last.forwardedFor === forwardedFor && last.userAgent === userAgent &&
    last.requestBody === request.bodySize && last.responseBody === responseBody && samePeer(last.connection, ex.connection)) return shared(last);
  const a = buildSpanAttributes(m.view, ex, opts, forwarded, forwardedFor, userAgent);
  if (!captures) m.span = { attributes: a, frozen: false, forwarded, forwardedFor, userAgent, requestBody: request.bodySize, responseBody, connection: ex.connection };
  return a;
}

/**
 * `a`, frozen: it is about to be shared by a second record. Frozen only then, so that a connection
 * of one exchange (a client that closes after each request) never has its attributes' encodings
 * cached (otlp-common.ts keeps them for frozen sets only): a flood of short connections kept ~3 KB
 * of them per connection, every connection of the last 10 s (the tracker remembers closed ones).
 */
function shared(s: SharedSet): Attributes {
  if (!s.frozen) {
    Object.freeze(s.attributes);
    s.frozen = true;
  }
  return s.attributes;
}

function buildSpanAttributes(v: HttpView, ex: HttpExchange, opts: HttpSemconvOptions, forwarded: string | undefined,
  forwardedFor: string | undefined, userAgent: string | undefined): Attributes {
  const { request, response, connection } = ex;
  const a: Attributes = { 'http.request.method': v.method };
  if (v.methodOriginal !== undefined) a['http.request.method_original'] = v.methodOriginal;
  if (v.path !== undefined) a['url.path'] = v.path;
  if (v.query !== undefined) a['url.query'] = v.query;
  a['url.scheme'] = v.scheme;
  if (v.statusCode !== undefined) a['http.response.status_code'] = v.statusCode;
  if (v.server !== undefined) {
    a['server.address'] = v.server.host;
    if (v.server.port !== undefined) a['server.port'] = v.server.port;
  }
  if (v.kind === 'server') {
    const client = forwardedClient(forwarded, forwardedFor) ?? connection.remote.address;
    if (client !== '') a['client.address'] = client;
  }
  if (connection.remote.address !== '') {
    a['network.peer.address'] = connection.remote.address;
    if (connection.family !== 'unix' && connection.remote.port > 0) a['network.peer.port'] = connection.remote.port;
  }
  if (v.protocolVersion !== undefined) a['network.protocol.version'] = v.protocolVersion;
  a['network.transport'] = connection.family === 'unix' ? 'unix' : connection.transport === 'udp' ? 'udp' : 'tcp';
  if (connection.family === 'ipv4' || connection.family === 'ipv6') a['network.type'] = connection.family;
  if (userAgent !== undefined) a['user_agent.original'] = userAgent;
  a['http.request.body.size'] = request.bodySize;
  if (response !== null) a['http.response.body.size'] = response.bodySize;
  if (v.kind === 'client' && v.server !== undefined) a['url.full'] = buildUrl(v.scheme, v.server, v.path, v.query);
  if (v.route !== undefined) a['http.route'] = v.route;
  if (v.template !== undefined) a['url.template'] = v.template;
  if (v.errorType !== undefined) a['error.type'] = v.errorType;
  if (opts.captureRequestHeaders) Object.assign(a, capturedHeaderAttributes(request.headers, opts.captureRequestHeaders, 'http.request.header.', opts.redaction));
  if (opts.captureResponseHeaders && response !== null) {
    Object.assign(a, capturedHeaderAttributes(response.headers, opts.captureResponseHeaders, 'http.response.header.', opts.redaction));
  }
  return a;
}

/** The last link id made, and what it was made of: keep-alive traffic repeats them, at both ends. */
let lastLinkMethod = '';
let lastLinkTarget = '';
let lastLinkId = ' ';

/**
 * What names an HTTP/1 request at both ends of its connection besides its ordinal: its method and
 * target, made once while they repeat (both ends then give the very same string, compared at once).
 */
export function httpLinkId(ex: HttpExchange): string {
  const { method, target } = ex.request;
  if (method !== lastLinkMethod || target !== lastLinkTarget) {
    lastLinkMethod = method;
    lastLinkTarget = target;
    lastLinkId = `${method} ${target}`;
  }
  return lastLinkId;
}

/** The exchange's duration for http.server.request.duration or http.client.request.duration. */
export function httpExchangeToMetrics(ex: HttpExchange, resource: ResourceRecord, opts: HttpSemconvOptions = NO_OPTIONS): HistogramPoint[] {
  const m = memoOf(ex, opts, resource);
  const v = m.view;
  if (v.kind !== 'server' && v.kind !== 'client') return [];
  const startNs = ex.request.startNs;
  const endNs = ex.response?.endNs ?? ex.request.endNs;
  const seconds = endNs > startNs ? Number(endNs - startNs) / 1e9 : 0;
  let attributes: Attributes;
  if (m.metric === null) m.metric = { attributes: attributes = metricAttributes(v), frozen: false };
  else attributes = shared(m.metric);
  return [{
    name: v.kind === 'server' ? HTTP_SERVER_DURATION : HTTP_CLIENT_DURATION,
    unit: 's',
    description: v.kind === 'server' ? 'Duration of HTTP server requests.' : 'Duration of HTTP client requests.',
    value: seconds,
    attributes,
    resource,
    timeUnixNano: endNs,
    // Set by the pipeline on the points of exchanges the kernel counted: present from the start (as an exchange's).
    counted: undefined,
  }];
}

/** Only bounded-cardinality attributes: no path, no peer address, _OTHER for unknown methods. */
function metricAttributes(v: HttpView): Attributes {
  const a: Attributes = { 'http.request.method': v.method, 'url.scheme': v.scheme };
  if (v.statusCode !== undefined) a['http.response.status_code'] = v.statusCode;
  if (v.protocolVersion !== undefined) a['network.protocol.version'] = v.protocolVersion;
  if (v.kind === 'client' && v.server !== undefined) {
    a['server.address'] = v.server.host;
    if (v.server.port !== undefined) a['server.port'] = v.server.port;
  }
  if (v.route !== undefined) a['http.route'] = v.route;
  if (v.template !== undefined) a['url.template'] = v.template;
  if (v.errorType !== undefined) a['error.type'] = v.errorType;
  return a;
}
