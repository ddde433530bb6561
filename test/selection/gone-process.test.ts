// A program that execs and exits before user space reads /proc (curl under a busy agent): judged by
// the comm the exec record carries, not waved through as unknown. /proc here is an empty directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { type SelectionRule, defaultSelectionConfig } from '../../src/config/selection.js';
import { ProcessSelection } from '../../src/selection/process-selection.js';

const procRoot = mkdtempSync(join(tmpdir(), 'lantern-noproc-'));
t.teardown(() => rmSync(procRoot, { recursive: true, force: true }));

const selection = (include: SelectionRule[], exclude: SelectionRule[] = []): ProcessSelection =>
  new ProcessSelection({ selection: { ...defaultSelectionConfig(), defaultExcludes: false, include, exclude }, pids: [], procRoot, agentPid: 1 });

t.test('a gone process is judged by its exec record\'s comm', async (t) => {
  const byPort = selection([{ port: [[8080, 8080]] }]);
  byPort.onExec(4242, 'curl');
  t.equal(byPort.traced(4242), false, 'include by port: a gone process listens on nothing, not traced');
  t.equal(byPort.decision(4242)?.reason, 'no include rule matched');

  const byExe = selection([{ exe: 'curl' }]);
  byExe.onExec(4242, 'curl');
  t.equal(byExe.traced(4242), true, 'include by exe: the comm names the program');
  byExe.onExec(4243, 'wget');
  t.equal(byExe.traced(4243), false, 'another program is not included');

  const excluded = selection([], [{ exe: 'cur*' }]);
  excluded.onExec(4242, 'curl');
  t.equal(excluded.traced(4242), false, 'exclude by exe glob over the comm');
});

t.test('a gone process\'s decision is kept a while for its records still on the way', async (t) => {
  let now = 0;
  const s = new ProcessSelection({
    selection: { ...defaultSelectionConfig(), defaultExcludes: false, include: [{ port: [[8080, 8080]] }], exclude: [] },
    pids: [], procRoot, agentPid: 1, now: () => now,
  });
  s.onExec(4242, 'curl');
  t.equal(s.traced(4242), false, 'judged at its exec: not traced');
  s.rescan(); // /proc is empty here: 4242 is gone
  t.equal(s.traced(4242), false, 'gone at a rescan: its last records are still not traced');
  now += 4_000;
  s.rescan();
  t.equal(s.decision(4242)?.reason, 'no include rule matched', 'still the decision made at its exec, 4 s after');
  now += 1_000;
  s.rescan();
  t.equal(s.decision(4242), null, 'forgotten 5 s after it was found gone (nothing in /proc to judge it by)');
  s.onExec(4243, 'curl');
  s.onExit(4243);
  now += 4_999;
  s.rescan();
  t.equal(s.traced(4243), false, 'an exit event keeps the decision as long');
  now += 1;
  s.rescan();
  t.equal(s.decision(4243), null, 'then it goes');
});
