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
