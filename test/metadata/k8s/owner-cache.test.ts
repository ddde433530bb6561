// The cache of pods' owners (a ReplicaSet's Deployment, a Job's CronJob): bounded, the first fetched
// evicted first, and a fetch that fails after its entry was evicted does not put it back past the bound.
import t from 'tap';
import { Logger } from '../../../src/log.js';
import type { KubeApiClient } from '../../../src/metadata/k8s/api-client.js';
import { OwnerCache } from '../../../src/metadata/k8s/owner-cache.js';

const log = new Logger('error', false, { write: () => undefined });
const rs = (n: number) => ({ kind: 'ReplicaSet', name: `rs-${n}`, uid: `uid-${n}` });

/** An API whose answers the test releases: each path's fetch resolves (404) or fails when told. */
function pendingApi(): { api: KubeApiClient; paths: string[]; answer(i: number, ok: boolean): void } {
  const paths: string[] = [];
  const settle: Array<(ok: boolean) => void> = [];
  const api = {
    getJson: (path: string) => new Promise((resolve, reject) => {
      paths.push(path);
      settle.push((ok) => (ok ? resolve({ status: 404, body: null }) : reject(new Error('unreachable'))));
    }),
  } as unknown as KubeApiClient;
  return { api, paths, answer: (i, ok) => settle[i]!(ok) };
}

t.test('bounded: the owner fetched first is evicted first, and fetched again when asked', async (t) => {
  const { api, paths, answer } = pendingApi();
  const cache = new OwnerCache(api, log, { maxEntries: 3 });
  for (let n = 0; n < 1000; n++) t.equal(cache.ownerOf(rs(n), 'ns'), undefined);
  for (let i = 0; i < paths.length; i++) answer(i, true);
  await new Promise((r) => setImmediate(r));
  t.equal(cache.stats().owners, 3, 'three kept of a thousand fetched');
  t.equal(cache.stats().owner_fetches, 1000);
  t.equal(cache.ownerOf(rs(999), 'ns'), null, 'the last is known (404: it has no controller)');
  t.equal(cache.ownerOf(rs(0), 'ns'), undefined, 'the first was evicted: unknown again...');
  t.equal(paths.length, 1001, '...and fetched again');
  t.equal(cache.stats().owners, 3);
  answer(1000, true);
  await cache.stop();
});

t.test('a fetch that fails after its entry was evicted does not put it back past the bound', async (t) => {
  const { api, answer } = pendingApi();
  const cache = new OwnerCache(api, log, { maxEntries: 2 });
  cache.ownerOf(rs(1), 'ns');
  cache.ownerOf(rs(2), 'ns');
  cache.ownerOf(rs(3), 'ns'); // evicts rs-1, still being fetched
  answer(0, false);
  answer(1, false);
  answer(2, false);
  await new Promise((r) => setImmediate(r));
  t.equal(cache.stats().owner_failures, 3, 'every failure counted');
  t.equal(cache.stats().owners, 2, 'rs-1 not put back');
  await cache.stop();
});
