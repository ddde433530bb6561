#!/usr/bin/env -S node --max-semi-space-size=8
// Runs the compiled CLI (npm run build produces dist/). The #! line carries the V8 options node must
// be started with (LAUNCHER_NODE_OPTIONS in src/agent/heap-tuning.ts, which says why): run this file
// itself (`lantern`, `./bin/lantern.js`) rather than `node bin/lantern.js`, or give node those options.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('lantern: not built yet — run `npm run build` (or `npm start`, which installs and builds)');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
