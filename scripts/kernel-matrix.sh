#!/usr/bin/env bash
# The full real-kernel matrix (docs/kernel-check.md): every cloud kernel
# series Debian offers (or the ones named) replays the hand-written VM_PAT
# bug-class traces and three generated sysfs-bars traces, compared with the
# model of its family (legacy before 6.16, per-vma from 6.16), recording
# every transcript; then fork timing on one kernel of each family and 6.12.
#
#   scripts/kernel-matrix.sh [OUT_DIR] [-- SERIES...]
#
# OUT_DIR defaults to evidence/kernel-matrix-<date>; it gets the traces,
# every kernel's transcript, check.txt and fork-timing.txt. Run as root
# (the set-up may install QEMU). Exit status: 0 when every kernel agrees
# with its model, 1 at a divergence, 2 on an error. Takes about a minute
# per kernel on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."

out=evidence/kernel-matrix-$(date -u +%Y%m%dT%H%M%SZ)
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    out=$1
    shift
fi
[ "${1:-}" = "--" ] && shift
if [ $# -gt 0 ]; then
    series=("$@")
else
    mapfile -t series < <(scripts/kernel-vm.sh --list)
fi
[ ${#series[@]} -gt 0 ] || { echo "kernel-matrix.sh: no kernel series" >&2; exit 2; }

scripts/kernel-vm.sh "${series[@]}"
cargo build --release --locked -q -p pfntrack
bin=target/release/pfntrack
mkdir -p "$out/traces"
for seed in 1 2 3; do
    "$bin" gen --scenario sysfs-bars --seed "$seed" --out "$out/traces/sysfs-bars-$seed.trace"
done
traces=(harness/tests/data/kernel/*.trace "$out"/traces/*.trace)
list=$(IFS=,; echo "${series[*]}")

status=0
"$bin" kernel-check "${traces[@]}" --kernel "$list" --record "$out/transcripts" \
    | tee "$out/check.txt" || status=$?
# One kernel of each family, and 6.12, if they are in the matrix.
timing=()
for s in 6.1 6.12 7.3; do
    [[ " ${series[*]} " == *" $s "* ]] && timing+=("$s")
done
if [ ${#timing[@]} -gt 0 ]; then
    "$bin" kernel-check --fork-timing --kernel "$(IFS=,; echo "${timing[*]}")" \
        | tee "$out/fork-timing.txt" || status=$?
fi
echo "kernel matrix written to $out (exit status $status)"
exit "$status"
