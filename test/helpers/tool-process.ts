// A real receiver (Jaeger, the OpenTelemetry Collector) run by a test: its binary from the tools
// cache scripts/build-test-tools.sh fills, a config in a temporary directory, every listener on a
// free loopback port, its output kept for error messages, and a stop that always cleans up.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const buildCommand = 'bash scripts/build-test-tools.sh';

export function toolsCache(): string {
  return process.env.LANTERN_TOOLS_CACHE || '/var/cache/lantern-test-tools';
}

/** Throws, saying how to get it, when `bin` is not an executable: a missing tool fails the test. */
export function requireBinary(what: string, bin: string): void {
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    throw new Error(`the ${what} binary ${bin} is missing (or not executable): build it with \`${buildCommand}\` (run by \`bash scripts/setup.sh --test\`)`);
  }
}

/** Free loopback ports, all held open at once so they are distinct, then released for the tool. */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = createServer();
      servers.push(s);
      s.listen(0, '127.0.0.1');
      await once(s, 'listening');
      const addr = s.address();
      if (addr === null || typeof addr === 'string') throw new Error('listening on port 0 gave no port');
      ports.push(addr.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

/** Ports are free when picked but released before the tool binds them; on the rare collision, start again. */
export async function retryOnPortClash<T>(start: () => Promise<T>): Promise<T> {
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await start();
    } catch (e) {
      lastError = e as Error;
      if (!/address already in use/i.test(lastError.message)) throw lastError;
    }
  }
  throw lastError;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function killOnExit(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A test that dies before its teardown must not leave the tool behind.
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
}

export interface ToolProcess {
  /** The temporary directory the tool runs in (its config is there). */
  dir: string;
  /** What the tool has written to stdout and stderr so far. */
  output(): string;
  /** SIGTERM (SIGKILL after 5 s), then the directory is removed. Safe to call twice. */
  /** Stops the tool; `beforeRemove` reads what it wrote once it has exited, before its directory goes. */
  stop(beforeRemove?: () => void): Promise<void>;
  /** Polls `probe` until it resolves; on failure or exit stops the tool and throws with its output. */
  waitReady(probe: () => Promise<void>, timeoutMs: number): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts `bin` with `args(configPath)`, after writing `config` into a new temporary directory. */
export function startToolProcess(name: string, bin: string, config: string, args: (configPath: string) => string[]): ToolProcess {
  const dir = mkdtempSync(join(tmpdir(), `lantern-${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-`));
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, config);

  // Nothing of the test's own OTLP set-up (OTEL_EXPORTER_OTLP_ENDPOINT, ...) may steer the tool.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
  const child = spawn(bin, args(configPath), { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(child);
  let output = '';
  const keep = (d: Buffer): void => {
    output += d.toString();
    if (output.length > 1_000_000) output = output.slice(-500_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((e) => (exit = e));
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));

  let stopped = false;
  const stop = async (beforeRemove?: () => void): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (exit === undefined && spawnError === undefined) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    }
    try {
      beforeRemove?.();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  const waitReady = async (probe: () => Promise<void>, timeoutMs: number): Promise<void> => {
    const until = Date.now() + timeoutMs;
    let lastProblem = 'no answer yet';
    for (;;) {
      if (spawnError !== undefined || exit !== undefined) {
        await stop();
        const how = spawnError ? `could not be started (${spawnError.message})` : `exited (code ${exit?.code}, signal ${exit?.signal})`;
        throw new Error(`${name} ${bin} ${how} before it was ready; its log:\n${output}`);
      }
      try {
        await probe();
        return;
      } catch (e) {
        lastProblem = (e as Error).message;
      }
      if (Date.now() > until) {
        await stop();
        throw new Error(`${name} ${bin} was not ready after ${timeoutMs} ms (last: ${lastProblem}); its log:\n${output}`);
      }
      await sleep(50);
    }
  };

  return { dir, output: () => output, stop, waitReady };
}
