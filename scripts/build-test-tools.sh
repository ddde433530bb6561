#!/usr/bin/env bash
# Builds the tools the end-to-end tests run against, into a cache that survives across runs on
# the same machine:
#   ${LANTERN_TOOLS_CACHE:-/var/cache/lantern-test-tools}/jaeger-<version>
#   ${LANTERN_TOOLS_CACHE:-/var/cache/lantern-test-tools}/otelcol-<hash of its go.mod, go.sum, main.go>
#   ${LANTERN_TOOLS_CACHE:-/var/cache/lantern-test-tools}/helm-<hash>, kubeconform-<hash> (of test/e2e-tools/k8s/go.mod, go.sum)
#   ${LANTERN_TOOLS_CACHE:-/var/cache/lantern-test-tools}/kubernetes-openapi-<version>.json
# Jaeger (the all-in-one "v2" binary, an OpenTelemetry Collector distribution) is named as a Go
# tool in test/e2e-tools/go.mod, which pins its version and every dependency (go.sum). The
# Collector (OTLP receiver + file exporter, test/e2e-tools/otelcol) is a module of its own, named
# by the hash of its sources since it has no version of its own. A binary already in the cache is
# used as is; on a fresh machine each is built (Jaeger about 3-4 minutes cold; the Collector about
# 4 since it has the Prometheus remote-write exporter, measured 261 s on 2 busy cores).
# Helm and kubeconform (test/deploy: helm lint/template, schema checks of the manifests) are Go
# tools of test/e2e-tools/k8s/go.mod, which pins their versions (Helm measured 263 s cold on 2 busy
# cores, kubeconform seconds). The
# Kubernetes OpenAPI document kubeconform's schemas are made from is api/openapi-spec/swagger.json
# of the k8s.io/kubernetes module (version in test/e2e-tools/k8s/kubernetes-version), from the Go
# module proxy, checked against the Go checksum database like any module (a ~20 MB download).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'build-test-tools: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

cache=${LANTERN_TOOLS_CACHE:-/var/cache/lantern-test-tools}
jaeger_dir=test/e2e-tools
otelcol_dir=test/e2e-tools/otelcol
k8s_dir=test/e2e-tools/k8s

for f in "$jaeger_dir/go.mod" "$otelcol_dir/go.mod" "$otelcol_dir/go.sum" "$otelcol_dir/main.go" "$k8s_dir/go.mod" "$k8s_dir/go.sum" "$k8s_dir/kubernetes-version"; do
  [ -f "$f" ] || die "$f is missing"
done

# The Jaeger version comes from go.mod, the one place it is pinned.
jaeger_version=$(sed -nE 's/^[[:space:]]*github\.com\/jaegertracing\/jaeger v([0-9][^ ]*)( .*)?$/\1/p' "$jaeger_dir/go.mod" | head -n 1)
[ -n "$jaeger_version" ] || die "no github.com/jaegertracing/jaeger requirement in $jaeger_dir/go.mod"
# test/helpers/otelcol.ts computes the same name: sha256 of the three files one after the other.
otelcol_hash=$(cat "$otelcol_dir/go.mod" "$otelcol_dir/go.sum" "$otelcol_dir/main.go" | sha256sum | cut -c1-16)
# test/helpers/k8s-tools.ts computes the same name: sha256 of go.mod and go.sum one after the other.
k8s_hash=$(cat "$k8s_dir/go.mod" "$k8s_dir/go.sum" | sha256sum | cut -c1-16)
helm_version=$(sed -nE 's/^[[:space:]]*helm\.sh\/helm\/v4 (v[0-9][^ ]*)( .*)?$/\1/p' "$k8s_dir/go.mod" | head -n 1)
[ -n "$helm_version" ] || die "no helm.sh/helm/v4 requirement in $k8s_dir/go.mod"
kubernetes_version=$(tr -d '[:space:]' <"$k8s_dir/kubernetes-version")

# Go, needed only to build: Debian 12's own golang is too old for these modules; the official
# tarball lives in /usr/local/go.
need_go() {
  if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
    export PATH="$PATH:/usr/local/go/bin"
  fi
  command -v go >/dev/null 2>&1 ||
    die "Go is not installed (looked on PATH and in /usr/local/go/bin): install Go 1.26 or newer from https://go.dev/dl/ into /usr/local/go"
}

# build NAME MODULE_DIR PACKAGE LDFLAGS CHECK_ARG: $cache/NAME built from PACKAGE in MODULE_DIR unless
# it is there; the new binary must run with CHECK_ARG before it takes that name.
build() {
  local name=$1 module_dir=$2 package=$3 ldflags=$4 check=$5
  local bin="$cache/$name"
  if [ -x "$bin" ]; then
    say "$name: cached at $bin"
    return 0
  fi

  need_go

  mkdir -p "$cache" 2>/dev/null || die "cannot create the tools cache $cache (set LANTERN_TOOLS_CACHE to a writable directory)"
  [ -w "$cache" ] || die "the tools cache $cache is not writable (set LANTERN_TOOLS_CACHE to a writable directory)"
  cache=$(cd "$cache" && pwd)
  bin="$cache/$name"

  # One build at a time per cache; whoever waited finds the binary there.
  exec 9>"$cache/.$name.lock"
  flock 9 2>/dev/null || true
  if [ -x "$bin" ]; then
    say "$name: built meanwhile by another run, at $bin"
    exec 9>&-
    return 0
  fi

  say "$name: not in $cache, building with $(go version | cut -d' ' -f3) (minutes on a cold Go cache)"
  local tmp="$bin.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  local start
  start=$(date +%s)
  # CGO off: a static binary, no C toolchain needed, as the projects' own release builds.
  # go.sum is complete: -mod=readonly builds exactly what is pinned (whatever GOFLAGS says).
  if ! (cd "$module_dir" &&
    CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$tmp" "$package" >&2); then
    die "building $name failed (see the go output above); module: $module_dir, command: cd $module_dir && go build $package"
  fi
  "$tmp" "$check" >/dev/null 2>&1 || die "the $name binary that was just built does not run: $tmp"
  mv -f "$tmp" "$bin"
  trap - EXIT
  exec 9>&-
  say "$name: built in $(($(date +%s) - start))s, at $bin"
}

build "jaeger-$jaeger_version" "$jaeger_dir" github.com/jaegertracing/jaeger/cmd/jaeger \
  "-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=v$jaeger_version" --help
build "otelcol-$otelcol_hash" "$otelcol_dir" . "-s -w" --version
build "helm-$k8s_hash" "$k8s_dir" helm.sh/helm/v4/cmd/helm "-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version" version
build "kubeconform-$k8s_hash" "$k8s_dir" github.com/yannh/kubeconform/cmd/kubeconform "-s -w" -v

# The Kubernetes OpenAPI document (swagger.json) of the pinned release, out of its module.
openapi="$cache/kubernetes-openapi-$kubernetes_version.json"
if [ -s "$openapi" ]; then
  say "kubernetes-openapi-$kubernetes_version: cached at $openapi"
else
  need_go
  mkdir -p "$cache" 2>/dev/null || die "cannot create the tools cache $cache"
  say "kubernetes-openapi-$kubernetes_version: downloading the k8s.io/kubernetes module $kubernetes_version"
  # Outside any module, so the download is the module alone; -json tells where it was unpacked.
  dir=$(cd / && GOFLAGS= go mod download -json "k8s.io/kubernetes@$kubernetes_version" | sed -nE 's/^[[:space:]]*"Dir": "(.*)",?$/\1/p')
  [ -n "$dir" ] && [ -s "$dir/api/openapi-spec/swagger.json" ] ||
    die "no api/openapi-spec/swagger.json in the k8s.io/kubernetes $kubernetes_version module (go mod download k8s.io/kubernetes@$kubernetes_version)"
  cp "$dir/api/openapi-spec/swagger.json" "$openapi.tmp.$$"
  mv -f "$openapi.tmp.$$" "$openapi"
  say "kubernetes-openapi-$kubernetes_version: at $openapi"
fi
