// `lantern run`: the agent.
import { loadConfig } from '../../config/load.js';
import { Agent } from '../../agent/agent.js';
import { missingLauncherOptions, stopPretenuring, tuneHeapForAgent } from '../../agent/heap-tuning.js';
import { fixMmapThreshold } from '../../agent/memory-release.js';
import { COLLECTOR_NAMES } from '../../config/schema.js';
import { Logger } from '../../log.js';
import { type Command, parseOptions } from '../command.js';
import { waitForStop } from '../wait-for-stop.js';

const HELP = `Usage: lantern run [options]

Runs the agent: loads the BPF collectors, turns what they see into OpenTelemetry records and
exports them. Stops on SIGINT/SIGTERM or after --duration, detaching every probe and flushing.

Options:
  --pid PID               trace only this process (repeatable); default: every process
  --include-exe GLOB      trace only processes whose executable matches (repeatable; a path when
                          GLOB has a '/', else the name); with --include-port: either
  --exclude-exe GLOB      never trace processes whose executable matches (repeatable)
  --include-port PORTS    trace only processes listening on one of PORTS (80,443,8000-8999)
  --exclude-port PORTS    never trace processes listening on one of PORTS
                          (rules add to the configuration's selection:; README "Choosing what is traced")
  --duration SECONDS      stop cleanly after this long
  --otlp-endpoint URL     OTLP receiver (default: $OTEL_EXPORTER_OTLP_ENDPOINT); none = local mode
  --otlp-file PATH        also append every exported batch as OTLP JSON lines
  --collectors LIST       comma-separated, of: ${COLLECTOR_NAMES.join(', ')} (default: sockets,tls,process,bpftrace,dynlog)
  --config FILE           YAML configuration (default: $LANTERN_CONFIG)
  --log-level LEVEL       debug, info, warn or error (default: info)
  --log-format FORMAT     text or json (default: text)
  --port PORT             control API port on 127.0.0.1 (default: 4590)
  --max-spans-per-second N  export at most N spans a second, whole requests shed past it (metrics
                          still count every exchange); default 0: no limit
  --max-cpu-percent P     shed spans while the agent's CPU is over P % of one core (metrics still
                          count every exchange); default 0: no limit
  --contended-cpu-percent P  the same, only while the host has no CPU to spare (the agent was starved
                          while yielding, or tasks waited for a CPU beside it); default 10, 0: no limit
  --probes-dir DIR        run every NAME.bt in DIR as bpftrace script NAME, following the files
  --shutdown-timeout S    on SIGTERM/SIGINT, detach and flush within S seconds whatever the backend
                          does (default 10); what is still queued then is dropped and counted
  --nice idle|N           while the agent keeps up, its threads run under SCHED_IDLE (idle, the
                          default: an application's thread that wakes takes the CPU at once) or
                          at nice N (1-19; 0: no yielding, the priority as started), so the
                          applications' threads get a CPU first
  -h, --help              this help

Standard OTEL_* variables are honoured: OTEL_EXPORTER_OTLP_{,TRACES_,METRICS_,LOGS_}ENDPOINT,
..._HEADERS, ..._PROTOCOL, OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME.
Precedence: flags > environment > configuration file > defaults.`;

/** Past the shutdown deadline, how long the process waits for a stop that has not returned. */
const STOP_GUARD_MS = 2_000;

export const runCommand: Command = {
  name: 'run',
  summary: 'run the agent',
  async run(argv) {
    const { values } = parseOptions('run', argv, {
      pid: { type: 'string', multiple: true },
      'include-exe': { type: 'string', multiple: true },
      'exclude-exe': { type: 'string', multiple: true },
      'include-port': { type: 'string', multiple: true },
      'exclude-port': { type: 'string', multiple: true },
      duration: { type: 'string' },
      'otlp-endpoint': { type: 'string' },
      'otlp-file': { type: 'string' },
      collectors: { type: 'string' },
      config: { type: 'string' },
      'log-level': { type: 'string' },
      'log-format': { type: 'string' },
      port: { type: 'string' },
      'max-spans-per-second': { type: 'string' },
      'max-cpu-percent': { type: 'string' },
      'contended-cpu-percent': { type: 'string' },
      'probes-dir': { type: 'string' },
      'shutdown-timeout': { type: 'string' },
      nice: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help === true) {
      console.log(HELP);
      return 0;
    }
    tuneHeapForAgent();
    stopPretenuring();
    fixMmapThreshold();
    const config = loadConfig({
      config: values.config,
      pids: values.pid,
      duration: values.duration,
      otlpEndpoint: values['otlp-endpoint'],
      otlpFile: values['otlp-file'],
      collectors: values.collectors,
      logLevel: values['log-level'],
      logFormat: values['log-format'],
      port: values.port,
      maxSpansPerSecond: values['max-spans-per-second'],
      maxCpuPercent: values['max-cpu-percent'],
      contendedCpuPercent: values['contended-cpu-percent'],
      probesDir: values['probes-dir'],
      shutdownTimeout: values['shutdown-timeout'],
      nice: values.nice,
      includeExe: values['include-exe'],
      excludeExe: values['exclude-exe'],
      includePort: values['include-port'],
      excludePort: values['exclude-port'],
    });
    const log = new Logger(config.log.level, config.log.format === 'json');
    const missing = missingLauncherOptions();
    if (missing.length > 0) {
      log.warn('node was started without the options bin/lantern.js gives it: V8 keeps its default young generation (~15 MiB more RSS under load); run bin/lantern.js itself or give node these options', { missing });
    }
    const agent = new Agent(config, log);
    await agent.start();
    const reason = await waitForStop(config.durationSeconds);
    log.info('stopping', { reason, deadline_ms: config.export.shutdownTimeoutMs });
    // Agent.stop keeps the deadline itself; this is the guard for a stop that hangs anyway (a
    // collector's own stop): the process exits and the kernel releases every probe it held.
    const guard = setTimeout(() => {
      log.error('stop did not finish within the shutdown deadline: exiting now', { deadline_ms: config.export.shutdownTimeoutMs });
      process.exit(1);
    }, config.export.shutdownTimeoutMs + STOP_GUARD_MS);
    guard.unref();
    const summary = await agent.stop();
    clearTimeout(guard);
    log.info('stopped', { summary });
    // A backend that never answered may still hold a socket open: the process ends anyway.
    setTimeout(() => process.exit(process.exitCode ?? 0), 100).unref();
    return 0;
  },
};
