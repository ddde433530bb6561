// What a Prometheus client library makes of a text exposition: Python's prometheus_client parser
// (text_string_to_metric_families), run as a child process. scripts/setup.sh --test installs it into
// a venv in the tools cache (${LANTERN_TOOLS_CACHE:-/var/cache/lantern-test-tools}/venv); a missing
// parser fails the test that asks for it, saying how to install it.
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { run } from './spawn.js';
import { toolsCache } from './tool-process.js';

export interface ParsedSample {
  /** As written: a counter's samples end in _total. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedFamily {
  /** prometheus_client's family name: a counter's without its _total. */
  name: string;
  type: string;
  help: string;
  samples: ParsedSample[];
}

export function prometheusPython(): string {
  return process.env.LANTERN_PROMETHEUS_PYTHON || join(toolsCache(), 'venv', 'bin', 'python3');
}

// Reads the exposition on stdin; prints the families as JSON, or the parser's error (exit 3).
const SCRIPT = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
text = sys.stdin.read()
try:
    families = [{"name": f.name, "type": f.type, "help": f.documentation,
                 "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]}
                for f in text_string_to_metric_families(text)]
except Exception as e:
    print(f"prometheus_client refused the exposition: {type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(3)
print(json.dumps(families))
`;

/** The exposition as prometheus_client parses it; rejects with the parser's error. */
export async function parsePrometheusText(text: string): Promise<ParsedFamily[]> {
  const python = prometheusPython();
  try {
    accessSync(python, constants.X_OK);
  } catch {
    throw new Error(`Python with prometheus_client is missing at ${python}: install it with \`bash scripts/setup.sh --test\` (it creates that venv)`);
  }
  const r = await run(python, ['-c', SCRIPT], { input: text });
  if (r.code === 3) throw new Error(r.stderr.trim());
  if (r.code !== 0) throw new Error(`${python} failed (exit ${r.code}): ${r.stderr.trim()} — is prometheus_client installed? (\`bash scripts/setup.sh --test\`)`);
  return JSON.parse(r.stdout) as ParsedFamily[];
}
