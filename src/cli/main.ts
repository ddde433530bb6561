// `lantern` command-line entry: dispatches to one command module per sub-command.
import { isLanternError } from '../errors.js';
import { bpftraceCommand } from './commands/bpftrace.js';
import { doctorCommand } from './commands/doctor.js';
import { runCommand } from './commands/run.js';
import { profileCommand } from './commands/profile.js';
import { statusCommand } from './commands/status.js';
import { traceFuncCommand } from './commands/trace-func.js';
import type { Command } from './command.js';

const COMMANDS: Command[] = [
  doctorCommand,
  runCommand,
  statusCommand,
  profileCommand,
  bpftraceCommand,
  traceFuncCommand,
];

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: lantern <command> [options]',
    '',
    'eBPF observability agent: protocol spans, TLS plaintext, CPU profiles, bpftrace and dynamic',
    'logging from unmodified programs, exported over OTLP.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `lantern <command> --help` for the options of a command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    console.log('lantern 0.1.0');
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (cmd === undefined) {
    console.error(`lantern: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (isLanternError(e)) {
      console.error(`lantern ${name}: ${e.message} [${e.code}]`);
      return e.code === 'LANTERN_ERR_USAGE' || e.code === 'LANTERN_ERR_CONFIG' ? 2 : 1;
    }
    throw e;
  }
}
