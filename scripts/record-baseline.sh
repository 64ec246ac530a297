#!/usr/bin/env bash
# Record the baseline the CI gate compares against: RUNS runs of a suite
# (separate processes, so the baseline knows its run-to-run spread) and
# the instruction counts per hook case, merged into one compact summary.
#
#   scripts/record-baseline.sh [--runs N] [--full] [--out FILE]
#
# Defaults: 5 runs of the quick suite into bench-results/baseline/quick.json;
# --full records the default suite into bench-results/baseline/full.json.
# Recording a baseline is a deliberate act: commit it with a message
# saying why (a new machine or toolchain, a change that moves figures on
# purpose). Takes about RUNS x 10 s plus the instruction counts (quick).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=5
suite=quick
out=
while [ $# -gt 0 ]; do
    case $1 in
        --runs)
            [ $# -ge 2 ] || { echo "Error: --runs needs a value" >&2; exit 2; }
            runs=$2; shift 2 ;;
        --full) suite=full; shift ;;
        --out)
            [ $# -ge 2 ] || { echo "Error: --out needs a value" >&2; exit 2; }
            out=$2; shift 2 ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "Error: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
[[ $runs =~ ^[1-9][0-9]?$ ]] || { echo "Error: --runs '$runs' is not 1..99" >&2; exit 2; }
out=${out:-bench-results/baseline/$suite.json}
quick=
[ "$suite" = quick ] && quick=--quick

cargo build --release --locked -q -p pfntrack
bin=target/release/pfntrack
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for i in $(seq 1 "$runs"); do
    echo "== $suite suite, run $i of $runs" >&2
    "$bin" run $quick --quiet --out "$tmp/run$i" > /dev/null
done
echo "== instruction counts" >&2
scripts/instr-count.sh --out "$tmp/instr-count.json"
"$bin" summarize "$tmp"/run*/results.json --instructions "$tmp/instr-count.json" --out "$out"
