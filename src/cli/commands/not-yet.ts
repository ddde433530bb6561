// Commands whose capability later work fills in: they exist, explain, and exit non-zero.
import { LanternError } from '../../errors.js';
import type { Command } from '../command.js';

export function notYetCommand(name: string, summary: string, feature: string): Command {
  return {
    name,
    summary: `${summary} (not available yet)`,
    async run(argv) {
      if (argv.includes('--help') || argv.includes('-h')) {
        console.log(`Usage: lantern ${name}\n\n${summary}.\n\nNot available yet: ${feature} is not part of this build.`);
        return 0;
      }
      throw new LanternError('LANTERN_ERR_NOT_AVAILABLE', `not available yet: ${feature} is not part of this build`);
    },
  };
}
