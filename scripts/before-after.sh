#!/usr/bin/env bash
# Measure a change's effect on the designs' hook costs: an older pfntrack
# (default: commit a11a649, before the calibrated XArray and its RCU read
# path) against this tree, `pfntrack run` alternating between the two
# binaries round by round, and print per scenario, design and hook the
# median tmean (ns) of each side and the ratio after / before.
#
# Usage: scripts/before-after.sh [--before-rev REV | --before-bin PATH]
#                                [--rounds N] [--quick] [--scenario NAME]...
#                                [--strategies LIST] [--hooks LIST] [--out DIR]
#   --before-rev REV   build this commit in a scratch worktree (default a11a649)
#   --before-bin PATH  use this pfntrack binary as "before" instead
#   --rounds N         alternations (default 5); each side runs --repeat 1 a round
#   --quick            the short suite (a tenth of the churn)
#   --scenario NAME    a preset to run (repeatable; default: the whole suite)
#   --strategies LIST  designs (default per-vma,xarray)
#   --hooks LIST       hooks to print (default dup,free,lookup)
#   --out DIR          where results go (default target/before-after)
# Needs git, cargo and python3 (installed from Debian's packages when
# missing and run as root). The load average is printed at start and end:
# on a busy machine read the ratios, not the absolute figures.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

die() { echo "before-after.sh: $*" >&2; exit 1; }

rev=a11a649
before_bin=""
rounds=5
quick=()
scenarios=()
strategies=per-vma,xarray
hooks=dup,free,lookup
out=target/before-after
while [ $# -gt 0 ]; do
    case "$1" in
        --before-rev) [ $# -ge 2 ] || die "--before-rev needs a commit"; rev=$2; shift 2 ;;
        --before-bin) [ $# -ge 2 ] || die "--before-bin needs a path"; before_bin=$2; shift 2 ;;
        --rounds) [ $# -ge 2 ] || die "--rounds needs a number"; rounds=$2; shift 2 ;;
        --quick) quick=(--quick); shift ;;
        --scenario) [ $# -ge 2 ] || die "--scenario needs a name"; scenarios+=(--scenario "$2"); shift 2 ;;
        --strategies) [ $# -ge 2 ] || die "--strategies needs a list"; strategies=$2; shift 2 ;;
        --hooks) [ $# -ge 2 ] || die "--hooks needs a list"; hooks=$2; shift 2 ;;
        --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
        -h|--help) sed -n "2,22p" "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ "$rounds" =~ ^[1-9][0-9]{0,2}$ ]] || die "--rounds '$rounds': want a number 1..999"
[[ "$hooks" =~ ^[a-z_]+(,[a-z_]+)*$ ]] || die "--hooks '$hooks': want names like dup,free"

if ! command -v python3 >/dev/null; then
    [ "$(id -u)" = 0 ] || die "python3 is missing; install it (Debian: python3)"
    apt-get update -qq && apt-get install -y -qq python3 >/dev/null || die "apt-get install python3 failed"
fi
mkdir -p "$out" || die "cannot create $out"
out=$(cd "$out" && pwd)

if [ -n "$before_bin" ]; then
    [ -x "$before_bin" ] || die "--before-bin $before_bin: not an executable"
    before=$(cd "$(dirname "$before_bin")" && pwd)/$(basename "$before_bin")
else
    git rev-parse --verify --quiet "$rev^{commit}" >/dev/null || die "--before-rev $rev: no such commit"
    src="$out/src-$rev"
    if [ ! -f "$src/Cargo.toml" ]; then
        # A plain copy of that commit's files: no worktree to clean up.
        rm -rf "$src" && mkdir -p "$src"
        git archive "$rev" | tar -x -C "$src" || die "git archive $rev failed"
    fi
    echo "before-after.sh: building $rev in $src" >&2
    (cd "$src" && CARGO_TARGET_DIR="$out/target-$rev" cargo build --release --quiet -p pfntrack) \
        || die "building $rev failed"
    before="$out/target-$rev/release/pfntrack"
fi
echo "before-after.sh: building this tree" >&2
cargo build --release --quiet -p pfntrack || die "building this tree failed"
after="$repo/target/release/pfntrack"

load_start=$(cut -d' ' -f1 /proc/loadavg)
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
for ((r = 1; r <= rounds; r++)); do
    # Alternate which side runs first, so drifting load falls on both.
    if (( r % 2 )); then order=(before after); else order=(after before); fi
    for side in "${order[@]}"; do
        bin=$before; [ "$side" = after ] && bin=$after
        echo "before-after.sh: round $r/$rounds: $side" >&2
        "$bin" run "${quick[@]}" "${scenarios[@]}" --strategies "$strategies" --repeat 1 \
            --out "$out/$side-$r" --quiet >/dev/null || die "$side round $r: pfntrack run failed"
    done
done
echo "load average at end:   $(cut -d' ' -f1-3 /proc/loadavg)"
# Busy: a 1-minute load above a quarter of the CPUs (at least 0.5) at the
# start, the threshold scripts/calibrate.sh refuses to time at; at the end
# the average still holds this script's own runs, so one more task.
if awk -v n="$(nproc)" -v s="$load_start" -v e="$(cut -d' ' -f1 /proc/loadavg)" \
        'BEGIN { t = n / 4; if (t < 0.5) t = 0.5; exit !(s >= t || e >= t + 1) }'; then
    echo "WARNING: the machine was busy (1-minute load above $(nproc) / 4): other processes shared the CPUs; read the ratios, not the absolute figures, and re-run on a quiet machine"
fi

python3 - "$out" "$rounds" "$hooks" <<'PY'
import json, statistics, sys
out, rounds, hooks = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
t = {}  # (side, scenario, design, hook) -> [tmean per round]
for side in ("before", "after"):
    for r in range(1, rounds + 1):
        path = f"{out}/{side}-{r}/results.json"
        with open(path) as f:
            doc = json.load(f)
        for sc in doc["scenarios"]:
            for d in sc["designs"]:
                for rep in d["repeats"]:
                    for h, s in rep["hooks"].items():
                        if h in hooks and s["count"] > 0:
                            t.setdefault((side, sc["name"], d["strategy"], h), []).append(s["tmean_ns"])
print(f"median tmean over {rounds} alternating rounds (ns); after/before")
print(f"{'scenario':<12} {'design':<8} {'hook':<7} {'before':>9} {'after':>9} {'ratio':>6}")
for (side, sc, d, h) in sorted(k for k in t if k[0] == "before"):
    b = statistics.median(t[("before", sc, d, h)])
    a = t.get(("after", sc, d, h))
    if not a:
        continue
    a = statistics.median(a)
    ratio = f"{a / b:>6.2f}" if b > 0 else f"{'-':>6}"
    print(f"{sc:<12} {d:<8} {h:<7} {b:>9.1f} {a:>9.1f} {ratio}")
PY
