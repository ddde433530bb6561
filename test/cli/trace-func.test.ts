// `lantern trace-func` as a user runs it: the real CLI on a running Go program, calls printed as
// they happen; refusals exit 1 saying why and what would work.
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { buildGoFixture } from '../helpers/go-build.js';
import { runCli, startCli } from '../helpers/cli.js';
import { startTarget, targetBinary } from '../collectors/dynlog/target.js';

t.test('traces a running program\'s function until --duration', async (t) => {
  const target = await startTarget(targetBinary());
  t.teardown(() => target.stop());
  const cli = startCli(['trace-func', '--pid', String(target.pid), '--function', 'main.(*Server).Login', '--args', 'req.User.Name,limit', '--returns', '--duration', '4']);
  await cli.waitForStderr(/tracing main\.\(\*Server\)\.Login in .*arguments: req\.User\.Name, limit; 2 results/, 20_000);
  await target.run('struct');
  const r = await cli.done;
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^main\.\(\*Server\)\.Login\(req\.User\.Name="ada", limit=18\) → true, "nil" \(/m);
  t.match(r.stdout, /^main\.\(\*Server\)\.Login\(req\.User\.Name="bob", limit=18\) → false, "too young" \(/m);
  t.match(r.stderr, /2 calls logged/);
});

t.test('refusals say why, and what still works', async (t) => {
  const binary = targetBinary();
  const notFound = await runCli(['trace-func', '--binary', binary, '--function', 'main.Lgin']);
  t.equal(notFound.code, 1);
  t.match(notFound.stderr, /main\.Lgin is not a function of .*did you mean main\.\(\*Server\)\.Login/);
  const inlined = await runCli(['trace-func', '--binary', binary, '--function', 'main.inlinedOnly']);
  t.match(inlined.stderr, /inlined into every caller.*go:noinline/);
  const field = await runCli(['trace-func', '--binary', binary, '--function', 'main.(*Server).Login', '--args', 'req.User.Nme']);
  t.match(field.stderr, /main\.User has no field Nme \(fields: Name, Age\)/);
  const notGo = await runCli(['trace-func', '--binary', '/bin/true', '--function', 'main.main']);
  t.match(notGo.stderr, /not a Go program.*bpftrace/);
  const noDwarf = await runCli(['trace-func', '--binary', buildGoFixture('dynlog-target', { ldflags: '-w' }), '--function', 'main.Add']);
  t.match(noDwarf.stderr, /has no DWARF.*still works/);
  const dir = mkdtempSync(join(tmpdir(), 'lantern-notelf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'text'), 'not an executable\n');
  const notElf = await runCli(['trace-func', '--binary', join(dir, 'text'), '--function', 'main.main']);
  t.match(notElf.stderr, /is not an ELF executable/);
  const usage = await runCli(['trace-func', '--function', 'main.Add']);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /--pid PID or --binary PATH/);
});
