#!/usr/bin/env bash
# How the cost of forking one pfnmap VMA grows with the number of VMAs
# mapping the same physical range, per design (default: per-vma and legacy).
#
# Each point is the fork-storm preset reduced to one 16-page BAR that every
# pfnmap VMA maps whole, so the N = processes x 10 pfnmap VMAs of the
# population (plus the children's copies) all map one range. legacy (v6.15)
# reserves that range again at every fork (track_pfn_copy ->
# memtype_check_conflict walks every overlapping entry), so its dup grows
# with N; the v6.16 designs take a reference. Prints one line per N and
# design: the median over repeats of the dup tmean (ns per pfnmap VMA
# forked; all designs ran interleaved in one run per N) and the memtype
# entries at peak.
#
# Usage: scripts/fork-sharers.sh [--sizes 250,1000,4000] [--repeat 5]
#                                [--strategies per-vma,legacy] [--out DIR]
set -euo pipefail

sizes=250,1000,4000
repeat=5
strategies=per-vma,legacy
out=bench-results/fork-sharers
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) sizes=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        --strategies) strategies=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "fork-sharers.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$repeat" in ''|*[!0-9]*|0) echo "fork-sharers.sh: --repeat must be a positive number" >&2; exit 2 ;; esac

cd "$(dirname "$0")/.."
cargo build --release -q -p pfntrack
bin=target/release/pfntrack
per_process=10

printf '%-6s %-14s %12s %16s\n' N design dup_tmean_ns reservations_peak
for n in ${sizes//,/ }; do
    case "$n" in ''|*[!0-9]*) echo "fork-sharers.sh: bad size $n" >&2; exit 2 ;; esac
    if [ $((n % per_process)) -ne 0 ] || [ "$n" -eq 0 ]; then
        echo "fork-sharers.sh: size $n is not a positive multiple of $per_process" >&2
        exit 2
    fi
    dir="$out/n$n"
    "$bin" run --scenario fork-storm --quick --quiet --repeat "$repeat" \
        --strategies "$strategies" --out "$dir" \
        --param bars=1 --param bar_pages_min=16 --param bar_pages_max=16 \
        --param pfnmap_vma_pages_min=16 --param pfnmap_vma_pages_max=16 \
        --param processes=$((n / per_process)) \
        --param pfnmap_vmas_per_process=$per_process \
        --param ordinary_vmas_per_process=0 >/dev/null
    # Median of the per-repeat dup tmeans, and the peak, per design.
    "$bin" report "$dir/results.json" --format csv |
        awk -F, '$5 == "hook.dup.tmean_ns" { v[$3] = v[$3] " " $7 }
            $5 == "reservations_peak" { p[$3] = $7 }
            END { for (d in v) print d, p[d], v[d] }' |
        while read -r design peak values; do
            median=$(printf '%s\n' $values | sort -g | awk '{ a[NR] = $1 }
                END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
            printf '%-6s %-14s %12.1f %16s\n' "$n" "$design" "$median" "$peak"
        done | sort -k2
done
echo "results: $out/n*/results.json (pfntrack report FILE for the whole table)"
