// `lantern trace-func`: every call of a function in a running Go program, logged with its
// arguments, results and duration, as OTel log records. No recompile, no redeploy.
import { Agent } from '../../agent/agent.js';
import { DynlogError } from '../../collectors/dynlog/analyze.js';
import { loadConfig } from '../../config/load.js';
import { LanternError } from '../../errors.js';
import { Logger } from '../../log.js';
import { type Command, parseOptions } from '../command.js';
import { printLogRecord } from '../print-log.js';
import { waitForStop } from '../wait-for-stop.js';

const HELP = `Usage: lantern trace-func (--pid PID | --binary PATH) --function NAME [--args EXPR,...] [--returns] [options]

Logs every call of a Go function in running programs: each call is one OTel log record
(event lantern.function.call) with the arguments (lantern.arg.<expr>), the results
(lantern.return.<n>), the duration and the goroutine, printed here and exported like everything
else. Reads the binary's DWARF and Go's register ABI; probes the function's entry and every RET.
With --binary, every process running that file is traced, including ones started later.

Options:
  --pid PID            the program of this process (and only it and its descendants)
  --binary PATH        every process running this Go binary
  --function NAME      e.g. main.handle, 'main.(*Server).Login', net/http.(*conn).serve
  --args LIST          comma-separated expressions over the arguments: name, name.Field.Field
                       (pointers are followed); default: every argument
  --returns            capture the results too
  --bound BYTES        bytes kept per string or slice (default 256, at most 512)
  --max-per-second N   calls logged per second; the excess is counted (default 1000)
  --duration SECONDS   stop after this long
  --json               print each record as a JSON line
  --otlp-endpoint URL  also export over OTLP (default: $OTEL_EXPORTER_OTLP_ENDPOINT)
  --otlp-file PATH     also append what is exported as OTLP JSON lines
  --log-level LEVEL    debug, info, warn or error (default: warn)
  -h, --help           this help`;

export const traceFuncCommand: Command = {
  name: 'trace-func',
  summary: 'log every call of a function in a running Go binary (dynamic logging)',
  async run(argv) {
    const { values } = parseOptions('trace-func', argv, {
      pid: { type: 'string' },
      binary: { type: 'string' },
      function: { type: 'string' },
      args: { type: 'string' },
      returns: { type: 'boolean' },
      bound: { type: 'string' },
      'max-per-second': { type: 'string' },
      duration: { type: 'string' },
      json: { type: 'boolean' },
      'otlp-endpoint': { type: 'string' },
      'otlp-file': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help === true) {
      console.log(HELP);
      return 0;
    }
    if (values.function === undefined) throw usage('--function is required');
    if ((values.pid === undefined) === (values.binary === undefined)) throw usage('give the program: --pid PID or --binary PATH (one of them)');
    const pid = values.pid !== undefined ? positiveInt(values.pid, '--pid') : undefined;
    const config = loadConfig({
      duration: values.duration, otlpEndpoint: values['otlp-endpoint'], otlpFile: values['otlp-file'], collectors: 'dynlog',
      logLevel: values['log-level'] ?? 'warn', port: '0', ...(pid !== undefined ? { pids: [String(pid)] } : {}),
    });
    // This command's control API is its own: it must not replace a running agent's token file.
    delete config.server.tokenFile;
    const log = new Logger(config.log.level, config.log.format === 'json');
    const agent = new Agent(config, log);
    agent.onLog(printLogRecord(values.json === true));
    await agent.start();
    try {
      const status = agent.dynlog?.add({
        function: values.function,
        ...(pid !== undefined ? { pid } : { binary: values.binary as string }),
        ...(values.args !== undefined ? { args: values.args.split(',').map((a) => a.trim()).filter((a) => a !== '') } : {}),
        returns: values.returns === true,
        ...(values.bound !== undefined ? { bound: positiveInt(values.bound, '--bound') } : {}),
        ...(values['max-per-second'] !== undefined ? { maxPerSecond: positiveInt(values['max-per-second'], '--max-per-second') } : {}),
      });
      if (status !== undefined) {
        console.error(`lantern trace-func: tracing ${status.function} in ${status.binary} (${status.goVersion}; ${status.returnSites} return sites; ` +
          `arguments: ${status.arguments.map((a) => a.replace('lantern.arg.', '')).join(', ') || 'none'}${status.results.length > 0 ? `; ${status.results.length} results` : ''})`);
      }
    } catch (e) {
      await agent.stop();
      if (e instanceof DynlogError) throw new LanternError('LANTERN_ERR_NOT_AVAILABLE', e.message);
      throw e;
    }
    const reason = await waitForStop(config.durationSeconds);
    log.info('stopping', { reason });
    const summary = await agent.stop();
    const s = summary.collectors.dynlog ?? {};
    console.error(`lantern trace-func: ${s.calls ?? 0} calls logged${(s.calls_dropped_rate ?? 0) > 0 ? `, ${s.calls_dropped_rate} over the rate limit` : ''}`);
    return 0;
  },
};

function usage(message: string): LanternError {
  return new LanternError('LANTERN_ERR_USAGE', `${message}\nRun \`lantern trace-func --help\` for the options.`);
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw usage(`${flag}: expected a positive whole number, got ${JSON.stringify(v)}`);
  return n;
}
