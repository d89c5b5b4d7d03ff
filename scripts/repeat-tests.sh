#!/usr/bin/env bash
# Runs the whole suite N times in a row on a clean clone of the current commit, with --test-concurrency=2, while
# one CPU-burning process competes for the cores (issue #20: "the full suite passes 10 times in a row on a clean
# clone ... while a CPU-burning process runs"). Stops at the first failing run unless KEEP_GOING=1.
#   scripts/repeat-tests.sh [N=10]          BURN=0 to run without the CPU burner
# Each run's summary line goes to stdout and its whole output to $OUT/run-<i>.log.
set -euo pipefail
N="${1:-10}"
SRC="$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)"
COMMIT="$(git -C "$SRC" rev-parse HEAD)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/shadowgate-repeat.XXXXXX")"
OUT="${OUT:-$WORK/logs}"
mkdir -p "$OUT"
BURNER=''
cleanup() {
  if [ -n "$BURNER" ]; then kill "$BURNER" 2>/dev/null || true; fi
}
trap cleanup EXIT

git clone --quiet --no-hardlinks "$SRC" "$WORK/clone"
git -C "$WORK/clone" checkout --quiet "$COMMIT"
cd "$WORK/clone"
# The dependencies are copied from the checkout (same package-lock): better-sqlite3's prebuilt binary comes from
# outside the npm registry, which a loopback-only machine cannot reach. INSTALL=1 installs them with npm ci instead.
if [ "${INSTALL:-0}" = 1 ]; then npm ci --no-audit --no-fund >"$OUT/install.log" 2>&1; else cp -a "$SRC/node_modules" node_modules; fi
echo "commit $COMMIT, clone $WORK/clone, logs $OUT"

if [ "${BURN:-1}" = 1 ]; then
  node -e 'for(;;){}' &
  BURNER=$!
  echo "CPU burner: pid $BURNER"
fi

failed=0
for i in $(seq 1 "$N"); do
  start=$(date +%s)
  if npm test >"$OUT/run-$i.log" 2>&1; then status=pass; else status=FAIL; failed=$((failed + 1)); fi
  summary=$(grep -E '^# (tests|pass|fail|cancelled)' "$OUT/run-$i.log" | tr '\n' ' ')
  echo "run $i/$N: $status in $(($(date +%s) - start)) s — $summary$(date -u +%H:%M:%S)"
  if [ "$status" = FAIL ]; then
    grep -E '^not ok|^# Subtest|failureType|error:' "$OUT/run-$i.log" | grep -B1 -A0 'not ok' | head -20 || true
    if [ "${KEEP_GOING:-0}" != 1 ]; then break; fi
  fi
done
echo "$failed failing run(s)"
exit $((failed > 0))
