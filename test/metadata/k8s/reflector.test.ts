// The list + watch protocol against a local API server (test/helpers/fake-kube-api.ts): a paged
// list, a chunked watch resumed from the list's resourceVersion, bookmarks, 410 Gone as the
// watch's status and as an ERROR event (→ list again), a watch the server ends (→ resumed from the
// last version seen, nothing missed or repeated), malformed and over-long lines (counted, skipped).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Logger } from '../../../src/log.js';
import { KubeApiClient } from '../../../src/metadata/k8s/api-client.js';
import { type PodRecord, podFromJson } from '../../../src/metadata/k8s/objects.js';
import { Reflector, type ReflectorHandler } from '../../../src/metadata/k8s/reflector.js';
import { FakeKubeApi } from '../../helpers/fake-kube-api.js';
import { fixture } from './fixtures.js';

const PODS = '/api/v1/pods';

/** What the handler was told, in order. */
class Recorder implements ReflectorHandler<PodRecord> {
  readonly calls: string[] = [];
  readonly pods = new Map<string, PodRecord>();
  replace(items: PodRecord[]): void {
    this.calls.push(`replace ${items.map((p) => p.name).sort().join(',')}`);
    this.pods.clear();
    for (const p of items) this.pods.set(p.uid, p);
  }
  upsert(p: PodRecord): void {
    this.calls.push(`upsert ${p.name}`);
    this.pods.set(p.uid, p);
  }
  remove(p: PodRecord): void {
    this.calls.push(`remove ${p.name}`);
    this.pods.delete(p.uid);
  }
}

function pod(name: string, node = 'node-a'): Record<string, any> {
  const p = fixture('pod-checkout');
  p.metadata.name = name;
  p.metadata.uid = `uid-${name}`;
  p.spec.nodeName = node;
  return p;
}

async function until(t: Test, what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  t.ok(cond(), what);
}

async function setup(t: Test, opts: { maxLineBytes?: number } = {}) {
  const api = await new FakeKubeApi().start();
  t.teardown(() => api.stop());
  const dir = mkdtempSync(join(tmpdir(), 'lantern-k8s-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'token'), 'token-one\n');
  const log: string[] = [];
  const client = new KubeApiClient({ apiUrl: api.url, tokenFile: join(dir, 'token'), ca: null, nodeName: 'node-a', source: 'configured' }, { tokenMaxAgeMs: 0 });
  const handler = new Recorder();
  const reflector = new Reflector({
    api: client, what: 'pods', path: PODS, params: { fieldSelector: 'spec.nodeName=node-a' }, decode: podFromJson, handler,
    log: new Logger('debug', false, { write: (l: string) => log.push(l) }), pageSize: 2, backoff: { initialBackoffMs: 20, maxBackoffMs: 100 },
    ...(opts.maxLineBytes !== undefined ? { maxLineBytes: opts.maxLineBytes } : {}),
  });
  t.teardown(() => reflector.stop());
  return { api, handler, reflector, log, dir };
}

t.test('paged list, then a watch from its version: events in order, bookmarks, the token sent', async (t) => {
  const { api, handler, reflector, dir } = await setup(t);
  for (const n of ['a1', 'a2', 'a3']) api.put(PODS, pod(n));
  api.put(PODS, pod('elsewhere', 'node-b'));
  reflector.start();
  await until(t, 'watching', () => api.watchCount(PODS) === 1);
  t.same(handler.calls, ['replace a1,a2,a3'], 'three pages of two, this node\'s pods only');
  const lists = api.requestsTo(PODS, false);
  t.same(lists.map((r) => r.params.get('continue')), [null, '2'], 'limit/continue');
  const [watch] = api.requestsTo(PODS, true);
  t.equal(watch?.params.get('resourceVersion'), api.resourceVersion, 'from the list\'s resourceVersion');
  t.equal(watch?.params.get('allowWatchBookmarks'), 'true');
  t.equal(watch?.params.get('fieldSelector'), 'spec.nodeName=node-a');
  t.ok(Number(watch?.params.get('timeoutSeconds')) >= 300, 'a server-side timeout');
  t.equal(watch?.authorization, 'Bearer token-one');

  api.put(PODS, { ...pod('a4') });
  const changed = pod('a1');
  changed.metadata.labels['app.kubernetes.io/name'] = 'renamed';
  api.put(PODS, changed);
  api.delete(PODS, 'uid-a2');
  await until(t, 'three events', () => handler.calls.length === 4);
  t.same(handler.calls.slice(1), ['upsert a4', 'upsert a1', 'remove a2']);
  t.equal(handler.pods.get('uid-a1')?.appName, 'renamed');

  const rv = api.bookmark(PODS);
  await until(t, 'bookmark counted', () => reflector.stats().bookmarks === 1);
  // The token is rotated: the next request carries the new one.
  writeFileSync(join(dir, 'token'), 'token-two\n');
  api.closeWatches(PODS);
  await until(t, 'watching again', () => api.requestsTo(PODS, true).length === 2 && api.watchCount(PODS) === 1);
  const again = api.requestsTo(PODS, true)[1];
  t.equal(again?.params.get('resourceVersion'), rv, 'resumed from the bookmark\'s version, no list');
  t.equal(again?.authorization, 'Bearer token-two', 'the rotated token');
  t.equal(api.requestsTo(PODS, false).length, 2, 'no list again');
  t.match(reflector.stats(), { lists: 1, events: 3, relists: 0, malformed: 0 });
});

t.test('a watch the server ends is resumed: what happened meanwhile arrives once', async (t) => {
  const { api, handler, reflector } = await setup(t);
  api.put(PODS, pod('b1'));
  reflector.start();
  await until(t, 'watching', () => api.watchCount(PODS) === 1);
  api.put(PODS, pod('b2'));
  await until(t, 'b2', () => handler.calls.includes('upsert b2'));
  api.closeWatches(PODS);
  // Between the end of one watch and the next: the resumed watch replays it from the version.
  api.put(PODS, pod('b3'));
  await until(t, 'b3 after the reconnect', () => handler.calls.includes('upsert b3'));
  t.same(handler.calls, ['replace b1', 'upsert b2', 'upsert b3'], 'nothing missed, nothing twice');
});

t.test('410 Gone as the watch\'s HTTP status: list again', async (t) => {
  const { api, handler, reflector } = await setup(t);
  api.put(PODS, pod('c1'));
  api.goneStatusWatches = 1;
  reflector.start();
  await until(t, 'watching after the relist', () => api.watchCount(PODS) === 1);
  t.same(handler.calls, ['replace c1', 'replace c1']);
  t.equal(reflector.stats().relists, 1);
});

t.test('410 as an ERROR event: list again, and a pod deleted meanwhile is gone', async (t) => {
  const { api, handler, reflector } = await setup(t);
  api.put(PODS, pod('d1'));
  api.put(PODS, pod('d2'));
  reflector.start();
  await until(t, 'watching', () => api.watchCount(PODS) === 1);
  // The server compacts its history past the watch's version and drops the watch.
  api.delete(PODS, 'uid-d2');
  await until(t, 'deleted', () => handler.calls.includes('remove d2'));
  api.put(PODS, pod('d3'));
  api.compactedBelow = Number(api.resourceVersion);
  api.sendRaw(PODS, `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'too old resource version', reason: 'Expired', code: 410 } })}\n`);
  await until(t, 'relisted', () => reflector.stats().relists === 1 && api.watchCount(PODS) === 1);
  t.equal(handler.calls.at(-1), 'replace d1,d3');
  t.same([...handler.pods.values()].map((p) => p.name).sort(), ['d1', 'd3']);
});

t.test('malformed and over-long lines are counted and skipped; the stream goes on', async (t) => {
  const { api, handler, reflector } = await setup(t, { maxLineBytes: 64 << 10 });
  reflector.start();
  await until(t, 'watching', () => api.watchCount(PODS) === 1);
  const good = JSON.stringify({ type: 'ADDED', object: { ...pod('e1'), metadata: { ...pod('e1').metadata, resourceVersion: '999' } } });
  // One event split across writes (chunks), then garbage of every kind.
  api.sendRaw(PODS, good.slice(0, 100));
  api.sendRaw(PODS, `${good.slice(100)}\n`);
  api.sendRaw(PODS, '{"type":"ADDED","object":{"metadata":{}}}\nnot json\n{"type":"WHAT","object":{}}\n[1,2]\n{"type":"ADDED"}\n');
  api.sendRaw(PODS, `{"type":"ADDED","object":{"pad":"${'x'.repeat(70 << 10)}"}}\n`);
  api.sendRaw(PODS, `${JSON.stringify({ type: 'MODIFIED', object: pod('e2') })}\n`);
  await until(t, 'e2 after the garbage', () => handler.calls.includes('upsert e2'));
  t.same(handler.calls, ['replace ', 'upsert e1', 'upsert e2']);
  t.match(reflector.stats(), { malformed: 5, lines_too_long: 1, events: 2, errors: 0 });
  t.equal(api.requestsTo(PODS, true).length, 1, 'the same watch throughout');
});

t.test('an API that fails: one warning, backoff, then it works', async (t) => {
  const { api, handler, reflector, log } = await setup(t);
  api.put(PODS, pod('f1'));
  api.failWith = 503;
  reflector.start();
  await until(t, 'a few attempts', () => api.requests.length >= 3);
  t.same(handler.calls, [], 'nothing handed over');
  api.failWith = null;
  await until(t, 'listed', () => handler.calls.length === 1 && api.watchCount(PODS) === 1);
  t.equal(log.filter((l) => l.includes('list/watch failed, retrying')).length, 1, 'warned once');
  t.equal(log.filter((l) => l.includes('works again')).length, 1);
  t.ok(reflector.stats().errors >= 3);
  // An ERROR event other than 410 ends the watch; it is watched again from the same version.
  const before = api.requestsTo(PODS, true).length;
  api.sendRaw(PODS, `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 500, message: 'etcd unavailable' } })}\n`);
  await until(t, 'watched again', () => api.requestsTo(PODS, true).length === before + 1 && api.watchCount(PODS) === 1);
  t.equal(api.requestsTo(PODS, true).at(-1)?.params.get('resourceVersion'), api.requestsTo(PODS, true).at(-2)?.params.get('resourceVersion'));
  t.equal(reflector.stats().lists, 1, 'no relist for it');
});

t.test('stop ends the watch and the loop', async (t) => {
  const { api, reflector } = await setup(t);
  reflector.start();
  await until(t, 'watching', () => api.watchCount(PODS) === 1);
  await reflector.stop();
  await until(t, 'no watch', () => api.watchCount(PODS) === 0);
  const n = api.requests.length;
  await new Promise((r) => setTimeout(r, 200));
  t.equal(api.requests.length, n, 'no request after stop');
});
