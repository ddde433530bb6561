// benchmarks/RESULTS.md holds one section per benchmark; each benchmark rewrites only its own.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository's benchmarks/RESULTS.md, from benchmarks/ or dist/benchmarks/. */
export const RESULTS_PATH = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../benchmarks/RESULTS.md' : './RESULTS.md', import.meta.url));

/**
 * Replaces the section that starts with the `heading` line (up to the next `## ` heading) with
 * `text`, or appends it.
 */
export function writeResultsSection(heading: string, text: string, path = RESULTS_PATH): void {
  const doc = existsSync(path) ? readFileSync(path, 'utf8') : '# Lantern benchmark results\n';
  const lines = doc.split('\n');
  const start = lines.indexOf(heading);
  let out: string;
  if (start < 0) {
    out = `${doc.trimEnd()}\n\n${text}`;
  } else {
    const next = lines.findIndex((l, i) => i > start && l.startsWith('## '));
    const after = next < 0 ? [] : ['', ...lines.slice(next)];
    out = [...lines.slice(0, start), ...text.trimEnd().split('\n'), ...after].join('\n');
  }
  writeFileSync(path, `${out.trimEnd()}\n`);
}
