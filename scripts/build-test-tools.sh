#!/usr/bin/env bash
# Builds the tools the end-to-end tests run against, into a cache that survives across runs on
# the same machine:
#   ${LANTERN_TOOLS_CACHE:-/var/cache/lantern-test-tools}/jaeger-<version>
# Jaeger (the all-in-one "v2" binary, an OpenTelemetry Collector distribution) is named as a Go
# tool in test/e2e-tools/go.mod, which pins its version and every dependency (go.sum). A binary
# already in the cache is used as is; on a fresh machine it is built (about 3-4 minutes cold).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'build-test-tools: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

module_dir=test/e2e-tools
cache=${LANTERN_TOOLS_CACHE:-/var/cache/lantern-test-tools}

[ -f "$module_dir/go.mod" ] || die "$module_dir/go.mod is missing"

# The Jaeger version comes from go.mod, the one place it is pinned.
version=$(sed -nE 's/^[[:space:]]*github\.com\/jaegertracing\/jaeger v([0-9][^ ]*)( .*)?$/\1/p' "$module_dir/go.mod" | head -n 1)
[ -n "$version" ] || die "no github.com/jaegertracing/jaeger requirement in $module_dir/go.mod"
bin="$cache/jaeger-$version"

if [ -x "$bin" ]; then
  say "jaeger $version: cached at $bin"
  exit 0
fi

# Go, needed only to build: Debian 12's own golang is too old for the tool directive; the official
# tarball lives in /usr/local/go.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="$PATH:/usr/local/go/bin"
fi
command -v go >/dev/null 2>&1 ||
  die "Go is not installed (looked on PATH and in /usr/local/go/bin): install Go 1.24 or newer from https://go.dev/dl/ into /usr/local/go"

mkdir -p "$cache" 2>/dev/null || die "cannot create the tools cache $cache (set LANTERN_TOOLS_CACHE to a writable directory)"
[ -w "$cache" ] || die "the tools cache $cache is not writable (set LANTERN_TOOLS_CACHE to a writable directory)"
cache=$(cd "$cache" && pwd)
bin="$cache/jaeger-$version"

# One build at a time per cache; whoever waited finds the binary there.
exec 9>"$cache/.jaeger-$version.lock"
flock 9 2>/dev/null || true
if [ -x "$bin" ]; then
  say "jaeger $version: built meanwhile by another run, at $bin"
  exit 0
fi

say "jaeger $version: not in $cache, building with $(go version | cut -d' ' -f3) (a few minutes on a cold Go cache)"
tmp="$bin.tmp.$$"
trap 'rm -f "$tmp"' EXIT
start=$(date +%s)
# CGO off: a static binary, no C toolchain needed, as Jaeger's own release builds.
# go.sum is complete: -mod=readonly builds exactly what is pinned (whatever GOFLAGS says).
if ! (cd "$module_dir" &&
  CGO_ENABLED=0 go build -mod=readonly -trimpath \
    -ldflags "-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=v$version" \
    -o "$tmp" github.com/jaegertracing/jaeger/cmd/jaeger >&2); then
  die "building jaeger $version failed (see the go output above); module: $module_dir, command: cd $module_dir && go build github.com/jaegertracing/jaeger/cmd/jaeger"
fi
"$tmp" --help >/dev/null 2>&1 || die "the jaeger binary that was just built does not run: $tmp"
mv -f "$tmp" "$bin"
say "jaeger $version: built in $(($(date +%s) - start))s, at $bin"
