#!/usr/bin/env node
// Runs the compiled CLI (npm run build produces dist/).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('lantern: not built yet — run `npm run build` (or `npm start`, which installs and builds)');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
