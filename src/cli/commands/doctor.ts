// `lantern doctor`: what this host offers and which Lantern features that allows.
import { agentCanRun, type Check, type Feature, features, kernelRelease, runChecks } from '../../host/capabilities.js';
import { type Command, parseOptions } from '../command.js';

const HELP = `Usage: lantern doctor [--json]

Checks this host for what Lantern needs (BPF syscall, BTF, tracepoints, uprobes, perf events,
kprobes, fentry, ring buffer, tracefs/bpffs, privileges) and lists the features that allows.
Exit status 0 when the agent can run here, 1 when it cannot.

Options:
  --json     machine-readable output
  -h, --help this help`;

export function renderDoctor(checks: Check[], feats: Feature[], kernel: string): string {
  const mark = (ok: boolean, required: boolean): string => (ok ? 'ok  ' : required ? 'FAIL' : 'no  ');
  const w = Math.max(...checks.map((c) => c.title.length));
  const lines = [`Kernel ${kernel}`, '', 'Host'];
  for (const c of checks) lines.push(`  [${mark(c.ok, c.required)}] ${c.title.padEnd(w)}  ${c.detail}${!c.ok && c.required ? '  (required)' : ''}`);
  lines.push('', 'Features');
  const fw = Math.max(...feats.map((f) => f.name.length));
  for (const f of feats) {
    lines.push(`  [${f.available ? 'ok  ' : 'no  '}] ${f.name.padEnd(fw)}  ${f.available ? 'available' : `needs ${f.missing.join(', ')}`}`);
  }
  lines.push('', agentCanRun(checks) ? 'The agent can run on this host.' : 'The agent cannot run on this host: fix the FAIL lines above.');
  return lines.join('\n');
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'report what this host offers and which Lantern features it allows',
  async run(argv) {
    const { values } = parseOptions('doctor', argv, { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
    if (values.help === true) {
      console.log(HELP);
      return 0;
    }
    const checks = runChecks();
    const feats = features(checks);
    const canRun = agentCanRun(checks);
    if (values.json === true) console.log(JSON.stringify({ kernel: kernelRelease(), canRun, checks, features: feats }, null, 2));
    else console.log(renderDoctor(checks, feats, kernelRelease()));
    return canRun ? 0 : 1;
  },
};
