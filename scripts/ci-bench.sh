#!/usr/bin/env bash
# CI benchmark gate: run the quick suite, append the result to
# bench-results/history/, compare it with the committed baseline, draw the
# charts, export for github-action-benchmark and Bencher, and exit non-zero
# when a significant regression exceeds the threshold.
#
#   scripts/ci-bench.sh [OUT_DIR]      (default: bench-results/ci)
#
# Environment: PFNTRACK_REGRESSION_PCT, the regression that fails the gate,
# in percent (default 25: wall-clock figures on a shared 2-core VM move
# 10-20% between runs; scripts/instr-count.sh is the noise-immune gate);
# PFNTRACK_BASELINE (default bench-results/baseline/quick.json). Takes
# about 15 s after the build.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-bench-results/ci}
threshold=${PFNTRACK_REGRESSION_PCT:-25}
baseline=${PFNTRACK_BASELINE:-bench-results/baseline/quick.json}

echo "== building pfntrack (release)" >&2
cargo build --release --locked -q -p pfntrack
bin=target/release/pfntrack

mkdir -p "$out"
echo "== quick suite -> $out/results.json" >&2
"$bin" run --quick --quiet --out "$out" > "$out/report.txt"

commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p bench-results/history
cp "$out/results.json" "bench-results/history/$stamp-$commit.json"
echo "== appended bench-results/history/$stamp-$commit.json" >&2

"$bin" report "$out/results.json" --format github-benchmark > "$out/github-benchmark.json"
"$bin" report "$out/results.json" --format bencher > "$out/bencher.json"

echo "== charts -> $out/charts/index.html" >&2
# The history already holds this run (appended above).
"$bin" chart bench-results/history --out "$out/charts" > /dev/null

if [ ! -f "$baseline" ]; then
    echo "no baseline at $baseline: nothing to compare against (record one, see bench-results/README.md)" >&2
    exit 2
fi
echo "== comparing with $baseline (fail on > $threshold% significant regression)" >&2
set +e
"$bin" compare "$baseline" "$out/results.json" --fail-on-regression "$threshold" | tee "$out/compare.txt"
status=${PIPESTATUS[0]}
set -e
case $status in
    0) echo "== no significant regression over $threshold%" >&2 ;;
    1) echo "== REGRESSION: see $out/compare.txt" >&2 ;;
    *) echo "== compare failed (status $status)" >&2 ;;
esac
exit "$status"
