#!/usr/bin/env node
// Builds the native addon with node-gyp, offline.
//
// node-gyp normally downloads Node's headers; this machine has no general Internet. Use the headers
// installed with Node itself (/usr/include/node, i.e. nodedir=/usr) when they are there, otherwise the
// `node-api-headers` package: a Node-API addon needs only the node_api*.h headers and links against
// nothing from Node.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(join(pkg, 'package.json'));

function fail(message) {
  console.error(`libbpf-ts: ${message}`);
  process.exit(1);
}

if (!existsSync('/usr/include/bpf/libbpf.h')) {
  fail('libbpf headers are missing: install Debian\'s libbpf-dev (apt-get install libbpf-dev libelf-dev zlib1g-dev)');
}

function nodeDir() {
  // LIBBPF_TS_HEADERS=package forces the fallback (to check it works on a machine that has both).
  const candidates = process.env.LIBBPF_TS_HEADERS === 'package' ? []
    : [process.env.npm_config_nodedir, '/usr', dirname(dirname(process.execPath))].filter(Boolean);
  for (const dir of candidates) {
    if (existsSync(join(dir, 'include/node/node_api.h')) && existsSync(join(dir, 'include/node/common.gypi'))) return dir;
  }
  // Fallback: a nodedir assembled from node-api-headers with a minimal common.gypi (node-gyp's
  // own addon.gypi supplies the rest of what an addon needs).
  let headers;
  try {
    headers = require('node-api-headers').include_dir;
  } catch {
    fail('no Node headers found (/usr/include/node) and the node-api-headers package is not installed');
  }
  // Outside build/: `node-gyp rebuild` starts by deleting build/.
  const dir = join(pkg, '.nodedir');
  mkdirSync(join(dir, 'include/node'), { recursive: true });
  for (const f of readdirSync(headers)) copyFileSync(join(headers, f), join(dir, 'include/node', f));
  // The least of Node's common.gypi an addon build needs: a Release configuration and PIC code.
  const common = { target_defaults: { default_configuration: 'Release', configurations: { Release: {} }, cflags: ['-fPIC', '-O2'] } };
  for (const sub of ['', 'include/node']) {
    writeFileSync(join(dir, sub, 'common.gypi'), `${JSON.stringify(common)}\n`);
    writeFileSync(join(dir, sub, 'config.gypi'), '{ "variables": {} }\n');
  }
  return dir;
}

// Incremental: skip when the addon is newer than every source and the build description.
function mtime(p) {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}
const addon = join(pkg, 'build/Release/lbts.node');
const sources = [join(pkg, 'binding.gyp'), ...readdirSync(join(pkg, 'src/native')).map((f) => join(pkg, 'src/native', f))];
if (mtime(addon) > Math.max(...sources.map(mtime))) process.exit(0);

const gyp = require.resolve('node-gyp/bin/node-gyp.js');
const args = [gyp, 'rebuild', `--nodedir=${nodeDir()}`, '--jobs=max'];
try {
  execFileSync(process.execPath, args, { cwd: pkg, stdio: ['ignore', 'inherit', 'inherit'] });
} catch {
  fail('building the addon failed (see the compiler output above)');
}
