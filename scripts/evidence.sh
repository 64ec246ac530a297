#!/usr/bin/env bash
# Evidence for a mailing-list reply: the full default suite, its lkml
# report, the results document and the charts, in one directory.
#
#   scripts/evidence.sh [OUT_DIR] [-- extra pfntrack run options]
#
# OUT_DIR defaults to evidence/<date>-<commit>. Extra options go to
# `pfntrack run` (e.g. -- --threads 2 --scenario fork-storm). The default
# suite takes well under a minute on a 2-core machine after the build.
set -euo pipefail
cd "$(dirname "$0")/.."

commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
out=evidence/$(date -u +%Y%m%dT%H%M%SZ)-$commit
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    out=$1
    shift
fi
[ "${1:-}" = "--" ] && shift

cargo build --release --locked -q -p pfntrack
bin=target/release/pfntrack
mkdir -p "$out"

"$bin" run --out "$out" "$@" > "$out/report-lkml.txt"
"$bin" report "$out/results.json" --format markdown > "$out/report.md"
"$bin" chart "$out/results.json" --out "$out/charts" > /dev/null
"$bin" layout > "$out/layout.txt"

cat <<MSG
Evidence written to $out:
  $out/report-lkml.txt   paste into the reply (ASCII, <= 80 columns)
  $out/report.md         the same as markdown tables
  $out/results.json      raw figures (bench-results/README.md documents them)
  $out/charts/index.html latency CDFs, memory, throughput
  $out/layout.txt        vm_area_struct with and without pfnmap_track_ctx
MSG
