#!/usr/bin/env bash
# Instruction counts per op of every hook benchmark case, measured with
# callgrind: figures that do not move with machine noise, for CI on shared
# machines. See docs/benchmarks.md.
#
# Each case (strategies/examples/instr_count.rs; the same workload, seed and
# op sequence as `cargo bench --bench hooks`) runs in its own callgrind
# process with collection off except inside the `measured_region_*`
# functions, which wrap exactly the part criterion times. Instructions per
# op = the run's Ir total / --ops.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: scripts/instr-count.sh [--out FILE] [--sizes LIST] [--filter REGEX] [--ops N] [-j N]
       scripts/instr-count.sh --compare BASE.json NEW.json [--threshold PCT]

  --out FILE       where to write the JSON map case -> instructions per op
                   (default: instr-count.json)
  --sizes LIST     population sizes, comma separated (default: 10k)
  --filter REGEX   only cases whose name matches (grep -E), e.g. '^dup/'
  --ops N          measured ops per case (default: 4096)
  -j N             callgrind processes in parallel (default: nproc); counts
                   do not depend on it
  --compare        compare two JSON files; exit 1 if any case in NEW is more
                   than PCT percent above BASE (default threshold: 2)
USAGE
}

mode=run
out=instr-count.json
sizes=10k
filter=.
ops=4096
jobs=$(nproc 2>/dev/null || echo 1)
threshold=2
base=
new=

need() {
    [ $# -ge 2 ] || { echo "Error: $1 needs a value" >&2; usage >&2; exit 2; }
}
while [ $# -gt 0 ]; do
    case $1 in
        --out) need "$@"; out=$2; shift 2 ;;
        --sizes) need "$@"; sizes=$2; shift 2 ;;
        --filter) need "$@"; filter=$2; shift 2 ;;
        --ops) need "$@"; ops=$2; shift 2 ;;
        -j | --jobs) need "$@"; jobs=$2; shift 2 ;;
        --threshold) need "$@"; threshold=$2; shift 2 ;;
        --compare)
            [ $# -ge 3 ] || { echo "Error: --compare needs BASE.json and NEW.json" >&2; exit 2; }
            mode=compare; base=$2; new=$3; shift 3 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "Error: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

is_number() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }

if [ "$mode" = compare ]; then
    is_number "$threshold" || { echo "Error: --threshold '$threshold' is not a number" >&2; exit 2; }
    for f in "$base" "$new"; do
        [ -r "$f" ] || { echo "Error: cannot read '$f'" >&2; exit 2; }
    done
    # Both files are what this script writes: one `"case": number` a line.
    awk -v thr="$threshold" -v basefile="$base" -v newfile="$new" '
        function entry(line, file) {
            if (line ~ /^[{}[:space:]]*$/) return 0
            if (!match(line, /^[[:space:]]*"[^"]+":[[:space:]]*[0-9.]+,?[[:space:]]*$/)) {
                printf "Error: %s:%d: not a `\"case\": number` line: %s\n", file, FNR, line > "/dev/stderr"
                bad_input = 1; exit 2
            }
            match(line, /"[^"]+"/); key = substr(line, RSTART + 1, RLENGTH - 2)
            val = line; sub(/^[^:]*:[[:space:]]*/, "", val); sub(/,?[[:space:]]*$/, "", val)
            return 1
        }
        FNR == NR { if (entry($0, basefile)) { b[key] = val + 0 }; next }
        {
            if (!entry($0, newfile)) next
            if (!header++) printf "%-36s %12s %12s %9s\n", "case (instructions/op)", "base", "new", "change"
            seen[key] = 1
            if (!(key in b)) { printf "%-36s %12s %12.2f %9s  new case\n", key, "-", val, "-"; next }
            old = b[key]
            pct = old > 0 ? (val - old) * 100 / old : (val > 0 ? 100 : 0)
            verdict = pct > thr ? "REGRESSION" : (pct < -thr ? "improved" : "")
            if (pct > thr) regressions++
            printf "%-36s %12.2f %12.2f %+8.2f%%  %s\n", key, old, val, pct, verdict
        }
        END {
            if (bad_input) exit 2
            for (k in b) if (!(k in seen)) printf "%-36s %12.2f %12s %9s  missing from new\n", k, b[k], "-", "-"
            printf "%d regression(s) above %s%%\n", regressions, thr
            exit regressions > 0 ? 1 : 0
        }
    ' "$base" "$new"
    exit $?
fi

command -v valgrind >/dev/null || { echo "Error: valgrind not found (apt-get install valgrind)" >&2; exit 2; }
[[ $ops =~ ^[1-9][0-9]*$ ]] || { echo "Error: --ops '$ops' is not a positive integer" >&2; exit 2; }
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "Error: -j '$jobs' is not a positive integer" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$(date +%s)
cargo build --quiet --release -p strategies --example instr_count
bin="${CARGO_TARGET_DIR:-$root/target}/release/examples/instr_count"

cases=$("$bin" --list --sizes "$sizes" | grep -E -- "$filter" || true)
[ -n "$cases" ] || { echo "Error: no case matches --filter '$filter' at sizes $sizes" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One callgrind run per case; files are named after the case ('/' -> '_').
run_case() {
    local case=$1 name=${1//\//_}
    if ! valgrind --tool=callgrind --callgrind-out-file="$tmp/$name.out" \
        --collect-atstart=no '--toggle-collect=*measured_region*' \
        "$bin" "$case" --ops "$ops" >"$tmp/$name.log" 2>&1; then
        echo "Error: callgrind run of $case failed:" >&2
        cat "$tmp/$name.log" >&2
        return 1
    fi
}
export -f run_case
export tmp bin ops
printf '%s\n' "$cases" | xargs -P "$jobs" -I{} bash -c 'run_case "$@"' _ {}

{
    echo "{"
    n=$(printf '%s\n' "$cases" | wc -l)
    i=0
    while read -r case; do
        i=$((i + 1))
        name=${case//\//_}
        total=$(awk '/^summary:/ { print $2 }' "$tmp/$name.out")
        [ -n "$total" ] || { echo "Error: no summary line in $tmp/$name.out" >&2; exit 1; }
        sep=,; [ "$i" -eq "$n" ] && sep=
        awk -v c="$case" -v t="$total" -v o="$ops" -v s="$sep" \
            'BEGIN { printf "  \"%s\": %.2f%s\n", c, t / o, s }'
    done <<<"$cases"
    echo "}"
} >"$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out: $(grep -c '":' "$out") cases, $ops ops each, in $(($(date +%s) - start)) s" >&2
