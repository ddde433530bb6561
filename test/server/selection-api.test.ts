// GET /api/selection through the real agent: the processes it judged, traced or not, each with the
// rule that decided; behind the token like every route. Children of this test (the agent runs with
// --pid of this process, so only they are in scope) under an exclude rule and outside it.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { SelectionListing } from '../../src/selection/process-selection.js';
import { startTestAgent } from '../helpers/agent.js';

t.test('GET /api/selection lists each process with its decision and the rule that made it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-selection-api-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = join(dir, 'lantern.yaml');
  writeFileSync(configFile, 'selection:\n  exclude:\n    - exe: "sleep"\n  rescan_seconds: 0.2\n');
  const agent = await startTestAgent({ configFile });
  t.teardown(() => agent.stop());
  const excluded = spawn('sleep', ['30'], { stdio: 'ignore' });
  const traced = spawn('tail', ['-f', '/dev/null'], { stdio: 'ignore' });
  t.teardown(() => {
    excluded.kill();
    traced.kill();
  });
  const url = `${agent.agent.controlUrl}/api/selection`;
  const auth = { authorization: `Bearer ${readFileSync(agent.tokenFile!, 'utf8').trim()}` };
  t.equal((await fetch(url)).status, 401, 'no token, no listing');

  const get = async (query = ''): Promise<SelectionListing> => (await (await fetch(`${url}${query}`, { headers: auth })).json()) as SelectionListing;
  let listing = await get();
  const until = Date.now() + 5000;
  const has = (l: SelectionListing, pid: number | undefined): boolean => l.processes.some((p) => p.pid === pid);
  while (!(has(listing, excluded.pid) && has(listing, traced.pid)) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
    listing = await get();
  }
  t.equal(listing.filtering, true);
  t.same(listing.pids, [process.pid], '--pid: the scope');
  t.match(listing.processes.find((p) => p.pid === excluded.pid), { exe: 'sleep', traced: false, reason: 'selection.exclude[0]', containerId: null });
  t.match(listing.processes.find((p) => p.pid === traced.pid), { exe: 'tail', traced: true, reason: 'no include rules' });
  t.ok((await get('?traced=false')).processes.every((p) => !p.traced), '?traced=false: the excluded only');
  t.ok(has(await get('?traced=true'), traced.pid), '?traced=true: the traced');
  t.equal((await get('?limit=1')).processes.length, 1, 'limit');
  t.equal((await fetch(`${url}?traced=maybe`, { headers: auth })).status, 400);
});
