// A Kubernetes API server for tests, speaking list + watch as the real one does
// (https://kubernetes.io/docs/reference/using-api/api-concepts/): paged lists (limit/continue) with
// a resourceVersion, watches as chunked streams of one JSON event per line, resumed from the
// resourceVersion asked for, BOOKMARK events, 410 Gone for versions it no longer has (as the HTTP
// status, or as an ERROR event), and single objects by name. Tests push events and cut streams.
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

type Obj = Record<string, any>;

export interface RecordedRequest {
  path: string;
  params: URLSearchParams;
  authorization: string | undefined;
}

interface Collection {
  /** Objects by uid. */
  objects: Map<string, Obj>;
  /** Every change, in order: what a watch from an older version replays. */
  history: Array<{ rv: number; type: string; object: Obj }>;
  /** Open watches, with their query (field selector). */
  watches: Map<ServerResponse, URLSearchParams>;
}

export class FakeKubeApi {
  readonly requests: RecordedRequest[] = [];
  /** Versions below this are "compacted": a watch from one gets 410. */
  compactedBelow = 0;
  /** The next watches answer HTTP 410 (then this goes down by one each). */
  goneStatusWatches = 0;
  /** Answered as the status of every request while set (an API server that fails). */
  failWith: number | null = null;
  #rv = 100;
  readonly #collections = new Map<string, Collection>();
  readonly #server: Server;
  url = '';

  constructor() {
    this.#server = createServer((req, res) => this.#handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.closeWatches();
    this.#server.closeAllConnections();
    await new Promise((r) => this.#server.close(r));
  }

  get resourceVersion(): string {
    return String(this.#rv);
  }

  /** Requests to `path` (list and watch alike) so far. */
  requestsTo(path: string, watch?: boolean): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path && (watch === undefined || (r.params.get('watch') === '1') === watch));
  }

  /** Adds or changes an object (a copy, with a new resourceVersion) and tells the watches. */
  put(collection: string, obj: Obj): Obj {
    const c = this.#collection(collection);
    const copy = structuredClone(obj);
    copy.metadata.resourceVersion = String(++this.#rv);
    const type = c.objects.has(copy.metadata.uid) ? 'MODIFIED' : 'ADDED';
    c.objects.set(copy.metadata.uid, copy);
    this.#event(c, type, copy);
    return copy;
  }

  delete(collection: string, uid: string): void {
    const c = this.#collection(collection);
    const obj = c.objects.get(uid);
    if (obj === undefined) return;
    c.objects.delete(uid);
    obj.metadata.resourceVersion = String(++this.#rv);
    this.#event(c, 'DELETED', obj);
  }

  /** Writes raw text to every watch of `collection` (malformed lines, split chunks, ERROR events). */
  sendRaw(collection: string, text: string): void {
    for (const w of this.#collection(collection).watches.keys()) w.write(text);
  }

  bookmark(collection: string): string {
    const rv = String(++this.#rv);
    this.sendRaw(collection, `${JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: rv } } })}\n`);
    return rv;
  }

  /** Ends every watch (as the server's timeoutSeconds or a restart would). */
  closeWatches(collection?: string): void {
    for (const [name, c] of this.#collections) {
      if (collection !== undefined && name !== collection) continue;
      for (const w of c.watches.keys()) w.end();
      c.watches.clear();
    }
  }

  watchCount(collection: string): number {
    return this.#collection(collection).watches.size;
  }

  #collection(name: string): Collection {
    let c = this.#collections.get(name);
    if (c === undefined) this.#collections.set(name, (c = { objects: new Map(), history: [], watches: new Map() }));
    return c;
  }

  #event(c: Collection, type: string, object: Obj): void {
    c.history.push({ rv: Number(object.metadata.resourceVersion), type, object: structuredClone(object) });
    const line = `${JSON.stringify({ type, object })}\n`;
    for (const [w, q] of c.watches) if (this.#selected(object, q)) w.write(line);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push({ path: url.pathname, params: url.searchParams, authorization: req.headers.authorization });
    if (this.failWith !== null) return this.#status(res, this.failWith, 'failing on purpose');
    // GET one object: /apis/<group>/<version>/namespaces/<ns>/<plural>/<name>
    const one = /^(.*)\/namespaces\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (one !== null) {
      const obj = [...this.#collection(`${one[1]}/${one[3]}`).objects.values()]
        .find((o) => o.metadata.namespace === decodeURIComponent(one[2]!) && o.metadata.name === decodeURIComponent(one[4]!));
      if (obj === undefined) return this.#status(res, 404, 'not found');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
      return;
    }
    const c = this.#collection(url.pathname);
    if (url.searchParams.get('watch') === '1') return this.#watch(c, url.searchParams, res);
    this.#list(c, url.searchParams, res);
  }

  #list(c: Collection, q: URLSearchParams, res: ServerResponse): void {
    const all = [...c.objects.values()].filter((o) => this.#selected(o, q));
    const limit = Number(q.get('limit') ?? '0');
    const from = Number(q.get('continue') ?? '0');
    const items = limit > 0 ? all.slice(from, from + limit) : all;
    const next = limit > 0 && from + limit < all.length ? String(from + limit) : undefined;
    const metadata: Obj = { resourceVersion: String(this.#rv) };
    if (next !== undefined) metadata.continue = next;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata, items }));
  }

  #watch(c: Collection, q: URLSearchParams, res: ServerResponse): void {
    const from = Number(q.get('resourceVersion') ?? String(this.#rv));
    if (this.goneStatusWatches > 0) {
      this.goneStatusWatches--;
      return this.#status(res, 410, `too old resource version: ${from}`);
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    if (from < this.compactedBelow) {
      // What the API server does once it has answered 200: an ERROR event, then the end.
      res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `too old resource version: ${from}`, reason: 'Expired', code: 410 } })}\n`);
      return;
    }
    for (const h of c.history) if (h.rv > from && this.#selected(h.object, q)) res.write(`${JSON.stringify({ type: h.type, object: h.object })}\n`);
    c.watches.set(res, q);
    res.on('close', () => c.watches.delete(res));
  }

  /** fieldSelector spec.nodeName=<n> is the only selector Lantern uses. */
  #selected(o: Obj, q: URLSearchParams): boolean {
    const m = /^spec\.nodeName=(.*)$/.exec(q.get('fieldSelector') ?? '');
    return m === null || o.spec?.nodeName === m[1];
  }

  #status(res: ServerResponse, code: number, message: string): void {
    res.writeHead(code, { 'content-type': 'application/json' })
      .end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, code }));
  }
}
