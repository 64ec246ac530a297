#!/usr/bin/env bash
# CI benchmark gate: run the quick suite and count instructions per hook
# case, gate the run against the committed baseline (pfntrack gate: exact
# instruction counts, exact memory and work, within-run design/per-vma
# ratios judged against the baseline's run-to-run spread; cross-run
# latencies are reported), export for github-action-benchmark and Bencher,
# draw the charts, and record a compact history entry when the tree is
# clean and the gate passed.
#
#   scripts/ci-bench.sh [OUT_DIR]      (default: bench-results/ci)
#
# Writes OUT_DIR/{results.json, report.txt, instr-count.json, summary.json,
# gate.txt, github-benchmark.json, bencher.json, charts/}. Exit status: the
# gate's (0 pass, 1 regression, 2 cannot gate).
#
# Environment:
#   PFNTRACK_BASELINE        baseline summary (default bench-results/baseline/quick.json)
#   PFNTRACK_INSTR_THRESHOLD largest tolerated instruction-count rise, % (default 2)
#   PFNTRACK_INSTR_FILTER    only count the hook cases matching this regex (default
#                            all 36; callgrind takes 7 s on a quiet 2-core machine,
#                            minutes on a loaded one)
#   PFNTRACK_FAIL_ON_LATENCY 1: also fail on a significant cross-run latency regression
#   PFNTRACK_RECORD          0: never write bench-results/history (default 1)
#   PFNTRACK_HISTORY         history directory (default bench-results/history)
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-bench-results/ci}
baseline=${PFNTRACK_BASELINE:-bench-results/baseline/quick.json}
threshold=${PFNTRACK_INSTR_THRESHOLD:-2}
record=${PFNTRACK_RECORD:-1}
history=${PFNTRACK_HISTORY:-bench-results/history}

# Check what can be checked before the work.
[ -r "$baseline" ] || {
    echo "Error: no baseline at $baseline (record one: scripts/record-baseline.sh)" >&2
    exit 2
}
[[ $threshold =~ ^[0-9]+([.][0-9]+)?$ ]] || {
    echo "Error: PFNTRACK_INSTR_THRESHOLD '$threshold' is not a percentage" >&2
    exit 2
}
latency_flag=
case ${PFNTRACK_FAIL_ON_LATENCY:-0} in
    0) ;;
    1) latency_flag=--fail-on-latency ;;
    *) echo "Error: PFNTRACK_FAIL_ON_LATENCY must be 0 or 1" >&2; exit 2 ;;
esac
case $record in
    0 | 1) ;;
    *) echo "Error: PFNTRACK_RECORD must be 0 or 1" >&2; exit 2 ;;
esac

# The tree as it is now, before anything below writes into it.
tree=dirty
if git rev-parse --git-dir >/dev/null 2>&1 && [ -z "$(git status --porcelain --untracked-files=no)" ]; then
    tree=clean
fi
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

echo "== building pfntrack (release)" >&2
cargo build --release --locked -q -p pfntrack
bin=target/release/pfntrack

mkdir -p "$out"
echo "== quick suite -> $out/results.json" >&2
"$bin" run --quick --quiet --out "$out" > "$out/report.txt"

echo "== instruction counts -> $out/instr-count.json" >&2
scripts/instr-count.sh --out "$out/instr-count.json" --filter "${PFNTRACK_INSTR_FILTER:-.}"

"$bin" summarize "$out/results.json" --instructions "$out/instr-count.json" \
    --out "$out/summary.json" > /dev/null

echo "== gating against $baseline" >&2
set +e
"$bin" gate "$baseline" "$out/summary.json" --instr-threshold "$threshold" $latency_flag \
    > "$out/gate.txt"
status=$?
set -e
cat "$out/gate.txt"
case $status in
    0) verdict=pass ;;
    1) verdict=fail ;;
    *) verdict=not-run ;;
esac

# The entry says how it was made; only a clean tree with a passing gate
# goes into the history that trend charts and baselines are drawn from.
"$bin" summarize "$out/results.json" --instructions "$out/instr-count.json" \
    --tree "$tree" --gate "$verdict" --out "$out/summary.json" > /dev/null
if [ "$record" = 1 ] && [ "$tree" = clean ] && [ "$verdict" = pass ]; then
    entry="$history/$(date -u +%Y%m%dT%H%M%SZ)-$commit.json"
    mkdir -p "$history"
    cp "$out/summary.json" "$entry.tmp"
    mv "$entry.tmp" "$entry"
    echo "== recorded $entry ($(wc -c < "$entry") bytes)" >&2
else
    echo "== not recorded in $history: tree $tree, gate $verdict, PFNTRACK_RECORD=$record" >&2
fi

"$bin" report "$out/results.json" --format github-benchmark > "$out/github-benchmark.json"
"$bin" report "$out/results.json" --format bencher > "$out/bencher.json"

echo "== charts -> $out/charts/index.html" >&2
# The history (summaries: the trends) and this run (its full results:
# latency, memory and throughput charts); a run recorded above is one run.
inputs=("$out/results.json")
if compgen -G "$history/*.json" > /dev/null; then
    inputs=("$history" "${inputs[@]}")
fi
"$bin" chart "${inputs[@]}" --out "$out/charts" > /dev/null

case $status in
    0) echo "== gate passed" >&2 ;;
    1) echo "== REGRESSION: see $out/gate.txt" >&2 ;;
    *) echo "== gate could not run (status $status)" >&2 ;;
esac
exit "$status"
