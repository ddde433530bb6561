#!/usr/bin/env bash
# Runs every test (libbpf-ts and the agent) with tap on the compiled JavaScript and ends with the
# line this workplace reads: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

files=$(ls packages/libbpf-ts/dist/test/*.test.js 2>/dev/null; find dist/test -name '*.test.js' 2>/dev/null | sort)
if [ -z "$files" ]; then
  echo "run-tests: no compiled tests found: run npm run build first" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

log=$(mktemp)
# shellcheck disable=SC2086
npx tap -R tap $files "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# The failures again, each with its diagnostic block, so that a log kept only by its tail still names them.
failures=$(awk '
  /^[[:space:]]*not ok / { print; inblock = 0; shown = 0; want = 1; next }
  want && /^[[:space:]]*---$/ { inblock = 1 }
  want && inblock { if (shown++ < 30) print; if ($0 ~ /^[[:space:]]*\.\.\.$/) { inblock = 0; want = 0 } next }
  { want = 0 }
' "$log")
if [ -n "$failures" ]; then
  echo
  echo "# failed:"
  echo "$failures"
fi

# tap's closing "# { total: N, pass: N, fail: N }" line, turned into the plain summary.
summary=$(grep -E '^# \{ total: [0-9]+' "$log" | tail -n 1)
rm -f "$log"
pass=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<<"$summary")
fail=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<<"$summary")
pass=${pass:-0}
fail=${fail:-0}
if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
echo "${pass} passed, ${fail} failed"
exit "$status"
