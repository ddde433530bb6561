// The Go program dynamic logging is tested on (test/fixtures/dynlog-target), driven scenario by
// scenario over stdin: `run("struct")` resolves once its calls have returned.
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { buildGoFixture } from '../../helpers/go-build.js';

export interface Target {
  pid: number;
  run(scenario: string): Promise<void>;
  stop(): void;
}

export function targetBinary(): string {
  return buildGoFixture('dynlog-target');
}

export async function startTarget(binary = targetBinary(), env: NodeJS.ProcessEnv = {}): Promise<Target> {
  const child: ChildProcessByStdio<Writable, Readable, null> = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const lines = createInterface({ input: child.stdout });
  const waiting = new Map<string, () => void>();
  lines.on('line', (l) => {
    waiting.get(l)?.();
    waiting.delete(l);
  });
  const expect = (line: string, ms = 15_000): Promise<void> => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the target never printed ${JSON.stringify(line)}`)), ms);
    waiting.set(line, () => {
      clearTimeout(timer);
      resolve();
    });
  });
  await expect('ready');
  return {
    pid: child.pid as number,
    run: (scenario) => {
      const done = expect(`done ${scenario}`);
      child.stdin.write(`${scenario}\n`);
      return done;
    },
    stop: () => child.kill(),
  };
}
