// Builds a Go test program once per source version into the machine's tool cache (rebuilt on a
// fresh machine, reused after).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './cli.js';

export interface GoBuildOptions {
  /** `go build -ldflags` (e.g. "-s -w": a stripped binary without DWARF). */
  ldflags?: string;
  /** With C code (cgo, gcc): CGO_ENABLED=1. Default: when a .go file of the fixture imports "C". */
  cgo?: boolean;
}

/** A release-style build without symbols or DWARF (`-s -w`). */
export const STRIPPED: GoBuildOptions = { ldflags: '-s -w' };

export function buildGoFixture(name: string, given: GoBuildOptions = {}): string {
  const dir = join(repoRoot, 'test/fixtures', name);
  const files = readdirSync(dir).sort();
  // What the sources need decides cgo, so every caller (the set-up's pre-build too) gets one build.
  const opts: GoBuildOptions = { ...given, cgo: given.cgo ?? files.some((f) => f.endsWith('.go') && /^import "C"$/m.test(readFileSync(join(dir, f), 'utf8'))) };
  const hash = createHash('sha256');
  for (const f of files) hash.update(f).update(readFileSync(join(dir, f)));
  hash.update(JSON.stringify(opts));
  const cache = process.env.LANTERN_TOOLS_CACHE ?? '/var/cache/lantern-test-tools';
  mkdirSync(cache, { recursive: true });
  const out = join(cache, `${name}-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(out)) return out;
  const tmp = `${out}.tmp${process.pid}`;
  const env = { ...process.env, PATH: `${process.env.PATH}:/usr/local/go/bin`, CGO_ENABLED: opts.cgo === true ? '1' : '0', GOFLAGS: '-mod=mod' };
  const flags = opts.ldflags !== undefined ? [`-ldflags=${opts.ldflags}`] : [];
  execFileSync('go', ['build', ...flags, '-o', tmp, '.'], { cwd: dir, env, stdio: ['ignore', 'inherit', 'inherit'] });
  renameSync(tmp, out);
  return out;
}
