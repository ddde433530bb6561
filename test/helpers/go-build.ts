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
  /** With C code (cgo, gcc): CGO_ENABLED=1. */
  cgo?: boolean;
}

/** A release-style build without symbols or DWARF (`-s -w`). */
export const STRIPPED: GoBuildOptions = { ldflags: '-s -w' };

export function buildGoFixture(name: string, opts: GoBuildOptions = {}): string {
  const dir = join(repoRoot, 'test/fixtures', name);
  const hash = createHash('sha256');
  for (const f of readdirSync(dir).sort()) hash.update(f).update(readFileSync(join(dir, f)));
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
