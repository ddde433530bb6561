// Rule matching (pure), globs, and the selection section of the configuration.
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { compileGlob } from '../../src/selection/glob.js';
import { type ProcessFacts, SelectionRules } from '../../src/selection/rules.js';

const facts = (f: Partial<ProcessFacts>): ProcessFacts => ({ pid: 1, exePath: null, comm: null, ports: null, containerId: null, pod: null, ...f });
const ID = 'ab'.repeat(32);

t.test('globs', async (t) => {
  const g = (p: string, s: string): boolean => (compileGlob(p) as (x: string) => boolean)(s);
  t.ok(g('otelcol*', 'otelcol-contrib'));
  t.notOk(g('otelcol*', 'my-otelcol'), 'the whole text');
  t.ok(g('/usr/*/nginx', '/usr/sbin/nginx'));
  t.notOk(g('/usr/*', '/usr/sbin/nginx'), '* stops at /');
  t.ok(g('/opt/**', '/opt/app/bin/server'), '** crosses /');
  t.ok(g('py?hon[0-9]', 'python3'));
  t.notOk(g('[!p]*', 'python'));
  t.ok(g('a.b', 'a.b') && !g('a.b', 'axb'), 'dots literal');
  t.type(compileGlob('[abc'), 'string', 'unclosed class refused');
});

t.test('decisions: include OR, fields AND, exclude wins, defaults', async (t) => {
  const r = new SelectionRules({
    include: [{ exe: 'nginx' }, { port: [[8000, 8999]], container: true }],
    exclude: [{ exe: '/tmp/**' }, { k8sPodLabels: { tier: 'debug*' } }],
    defaultExcludes: true,
  });
  t.same(r.decide(facts({ exePath: '/usr/sbin/nginx' })), { traced: true, reason: 'selection.include[0]' });
  t.same(r.decide(facts({ exePath: '/usr/bin/curl' })), { traced: false, reason: 'no include rule matched' });
  t.equal(r.decide(facts({ exePath: '/usr/bin/python3', ports: new Set([8080]) })).traced, false, 'port alone is not the whole rule');
  t.equal(r.decide(facts({ exePath: '/usr/bin/python3', ports: new Set([8080]), containerId: ID })).traced, true, 'port and container');
  t.same(r.decide(facts({ exePath: '/tmp/x/nginx' })), { traced: false, reason: 'selection.exclude[0]' });
  t.equal(r.decide(facts({ exePath: '/usr/sbin/nginx', pod: { namespace: 'shop', labels: { tier: 'debug-1' } } })).reason, 'selection.exclude[1]');
  t.equal(r.decide(facts({ exePath: '/usr/sbin/nginx', pod: { namespace: 'kube-system', labels: {} } })).reason, 'default exclude {k8s_namespace: kube-system}');
  t.equal(r.decide(facts({ exePath: '/usr/local/bin/otelcol-contrib' })).reason, 'default exclude {exe: otelcol*}');
  t.equal(r.decide(facts({ exePath: null, comm: 'jaeger-all-in-o' })).reason, 'default exclude {exe: jaeger*}', 'comm when the executable is unreadable');
  t.ok(r.usesPorts && r.usesPods && r.hasIncludes);
  const none = new SelectionRules({ include: [], exclude: [], defaultExcludes: false });
  t.same(none.decide(facts({ exePath: '/usr/bin/otelcol' })), { traced: true, reason: 'no include rules' });
  const c = new SelectionRules({ include: [], exclude: [{ container: ID.slice(0, 12) }, { container: false, k8sPodLabels: { app: '*' } }], defaultExcludes: false });
  t.equal(c.decide(facts({ containerId: ID })).traced, false, 'container id prefix');
  t.equal(c.decide(facts({ containerId: 'cd'.repeat(32) })).traced, true);
  t.equal(c.decide(facts({ pod: { namespace: 'a', labels: { app: '' } } })).traced, false, '"*" = the label exists');
  t.equal(c.decide(facts({ pod: { namespace: 'a', labels: {} } })).traced, true);
  t.equal(c.decide(facts({ pod: null })).traced, true, 'pod not known: a pod field does not match');
});

t.test('configuration: selection section, flags, errors naming the key', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-selcfg-'));
  const file = (text: string): string => {
    const p = join(dir, `${Math.random()}.yaml`);
    writeFileSync(p, text);
    return p;
  };
  const c = loadConfig({ config: file(`selection:
  include:
    - exe: "python*"
      port: "80,8000-8999"
    - k8s_namespace: shop
      k8s_pod_labels: { app: "*", version: 2 }
  exclude:
    - container: true
  default_excludes: false
  rescan_seconds: 2
`), excludeExe: ['otel*'], includePort: ['443'] }, {});
  t.same(c.selection, {
    include: [{ exe: 'python*', port: [[80, 80], [8000, 8999]] }, { k8sNamespace: 'shop', k8sPodLabels: { app: '*', version: '2' } }, { port: [[443, 443]] }],
    exclude: [{ container: true }, { exe: 'otel*' }],
    defaultExcludes: false, rescanSeconds: 2,
  });
  t.same(loadConfig({}, {}).selection, { include: [], exclude: [], defaultExcludes: true, rescanSeconds: 10 }, 'defaults');
  const bad = (text: string): string => {
    try {
      loadConfig({ config: file(text) }, {});
      return '';
    } catch (e) {
      return (e as Error).message;
    }
  };
  t.match(bad('selection:\n  includes: []\n'), /selection\.includes: unknown setting/);
  t.match(bad('selection:\n  include:\n    - exe: x\n      pid: 3\n'), /selection\.include\[0\]\.pid: unknown rule field/);
  t.match(bad('selection:\n  exclude:\n    - port: 70000\n'), /selection\.exclude\[0\]\.port: expected a port/);
  t.match(bad('selection:\n  exclude:\n    - container: abc\n'), /selection\.exclude\[0\]\.container: expected true/);
  t.match(bad('selection:\n  exclude:\n    - exe: "[ab"\n'), /selection\.exclude\[0\]\.exe: not a glob pattern/);
  t.match(bad('selection:\n  exclude:\n    - {}\n'), /selection\.exclude\[0\]: a rule needs at least one of/);
  t.match(bad('selection:\n  exclude:\n    - k8s_pod_labels: []\n'), /selection\.exclude\[0\]\.k8s_pod_labels: expected a mapping/);
  t.match(bad('selection:\n  default_excludes: "no"\n'), /selection\.default_excludes: expected true or false/);
  t.match(bad('selection:\n  include: { exe: x }\n'), /selection\.include: expected a list of rules/);
  t.throws(() => loadConfig({ excludePort: ['http'] }, {}), /--exclude-port: expected a port/);
});
