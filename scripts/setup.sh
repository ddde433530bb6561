#!/usr/bin/env bash
# Installs whatever is missing on a Debian 12 host and builds Lantern.
#   scripts/setup.sh          for running the agent
#   scripts/setup.sh --test   also what the test suite drives (real servers and clients)
# Idempotent: a second run installs nothing and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
say() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  say "run as root (sudo): Lantern installs Debian packages and loads BPF programs"
  exit 1
fi

# What the agent needs to build and run: a BPF compiler, libbpf, bpftool for vmlinux.h, a C++
# toolchain for the addon, bpftrace for the bpftrace collector, xz for MiniDebugInfo symbols.
packages=(clang-14 llvm-14 libbpf-dev libelf-dev zlib1g-dev bpftool bpftrace make g++ gcc python3 util-linux xz-utils)
if [ "$mode" = "--test" ]; then
  # Real servers and clients, openssl for test certificates, binutils/linux-perf to check symbols
  # and profiles against objdump, nm and perf, python3-venv for the Prometheus parser's venv (below),
  # a JDK for the profiler's Java test (javac, and jcmd to have the JVM write its perf map).
  packages+=(nginx curl wrk dnsmasq-base bind9-dnsutils iproute2 redis-server redis-tools nghttp2-client mariadb-server mariadb-client
    postgresql postgresql-client openssl binutils linux-perf python3-venv openjdk-17-jdk-headless)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  say "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))"
  exit 1
fi

# npm dependencies: install when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund >&2
fi

say "building"
npm run build >&2
if [ "$mode" = "--test" ]; then
  bash scripts/build-test-tools.sh
  # Prometheus' Python client, whose parser reads the agent's /metrics in the tests
  # (test/helpers/prometheus-parser.ts): a venv of Debian's python3 in the tools cache, the version
  # pinned here, from PyPI.
  prometheus_client=0.26.0
  venv=${LANTERN_TOOLS_CACHE:-/var/cache/lantern-test-tools}/venv
  if ! "$venv/bin/python3" -c "import importlib.metadata as m, sys; sys.exit(m.version('prometheus-client') != '$prometheus_client')" 2>/dev/null; then
    say "installing prometheus-client $prometheus_client into $venv"
    /usr/bin/python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "prometheus-client==$prometheus_client" >&2
  fi
  # The Go programs the tests drive, built here (cached per source hash) rather than inside a
  # test's time limit: a cold gRPC build takes minutes on two cores.
  say "building Go test programs"
  PATH="$PATH:/usr/local/go/bin" node --input-type=module -e '
    const { buildGoFixture, STRIPPED } = await import("./dist/test/helpers/go-build.js");
    const { readdirSync, existsSync } = await import("node:fs");
    for (const d of readdirSync("test/fixtures")) if (existsSync(`test/fixtures/${d}/go.mod`)) buildGoFixture(d);
    buildGoFixture("go-http", STRIPPED); // Go TLS tracing without symbols or DWARF
    (await import("./dist/test/fixtures/go-tls-probe/build.js")).buildAllGoTlsProbeVariants(); // -w, -s -w, PIE, arm64
  ' >&2
fi
