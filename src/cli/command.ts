// What every sub-command provides, and the shared option parsing with precise usage errors.
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { LanternError } from '../errors.js';

export interface Command {
  name: string;
  summary: string;
  /** Returns the process exit code. */
  run(argv: string[]): Promise<number>;
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** util.parseArgs in strict mode, with its errors turned into usage errors naming the command. */
export function parseOptions<T extends OptionSpec>(command: string, argv: string[], options: T): ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: false }>> {
  return usageErrors(command, () => parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
}

/** parseOptions for commands that also take operands (a script file). */
export function parseOptionsAndOperands<T extends OptionSpec>(command: string, argv: string[], options: T): ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: true }>> {
  return usageErrors(command, () => parseArgs({ args: argv, options, strict: true, allowPositionals: true }));
}

function usageErrors<R>(command: string, parse: () => R): R {
  try {
    return parse();
  } catch (e) {
    throw new LanternError('LANTERN_ERR_USAGE', `${(e as Error).message}\nRun \`lantern ${command} --help\` for the options.`);
  }
}
