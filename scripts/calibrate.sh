#!/usr/bin/env bash
# Calibrate pfntrack's XArray and interval tree against the kernel's own C.
#
# Fetches the kernel source at run time (Debian's linux-source-<series>
# package through a private apt configuration under the cache directory; the
# system's apt configuration is only read, for its mirror), extracts the few
# files needed, compiles lib/xarray.c, lib/rbtree.c and a memtype-style
# interval tree against pfntrack's userspace shim (scripts/calibrate/shim),
# and runs both sides over the same key files, interleaved, pinned to one
# CPU, a fresh key set per trial; inside each process every phase runs 3
# times on fresh structures and the fastest counts. Prints the per-phase
# table and writes calibration.json into --out. Timing waits for the
# 1-minute load average to settle and refuses a busy machine (see
# --allow-busy); the load at start and end is printed and recorded.
# --count instead runs each side once under valgrind's callgrind with a
# simulated cache and compares instructions and cache misses per op
# (counts.json): the work, immune to load. Nothing from the kernel tree is
# written into the repository.
#
# Usage: scripts/calibrate.sh [--kernel-src DIR] [--series S] [--out DIR]
#                             [--trials N] [--rounds N] [--quick] [--cpu N]
#                             [--count] [--allow-busy]
#   --kernel-src DIR  use this kernel tree instead of downloading one
#   --series S        linux-source-S to download (default 6.12)
#   --out DIR         where the JSON goes (default target/calibration)
#   --trials N        trials, each on fresh keys (default 7)
#   --rounds N        processes per side and key file in a trial, alternating
#                     (default 5; trees of 500k entries or more: 1)
#   --quick           20k XArray keys, trees of 10k and 100k, 3 trials, 2 reps,
#                     1 round
#   --cpu N           CPU to pin to (default: the last one)
#   --count           count instructions and cache misses (valgrind) instead
#                     of timing; one run per side and key file
#   --allow-busy      time at once even on a busy machine (warns; recorded in the JSON)
# Environment: PFNTRACK_CACHE (default ~/.cache/pfntrack),
#   PFNTRACK_DEBIAN_MIRROR (default: the system's Debian mirror), CC.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

die() { echo "calibrate.sh: $*" >&2; exit 1; }

kernel_src=""
series="6.12"
out="target/calibration"
trials=7
rounds=""
quick=0
cpu=""
count=0
allow_busy=0
while [ $# -gt 0 ]; do
    case "$1" in
        --kernel-src) [ $# -ge 2 ] || die "--kernel-src needs a directory"; kernel_src=$2; shift 2 ;;
        --series) [ $# -ge 2 ] || die "--series needs a value"; series=$2; shift 2 ;;
        --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
        --trials) [ $# -ge 2 ] || die "--trials needs a number"; trials=$2; shift 2 ;;
        --rounds) [ $# -ge 2 ] || die "--rounds needs a number"; rounds=$2; shift 2 ;;
        --quick) quick=1; shift ;;
        --cpu) [ $# -ge 2 ] || die "--cpu needs a number"; cpu=$2; shift 2 ;;
        --count) count=1; shift ;;
        --allow-busy) allow_busy=1; shift ;;
        -h|--help) sed -n "2,36p" "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ "$trials" =~ ^[1-9][0-9]{0,2}$ ]] || die "--trials '$trials': want a number 1..999"
[ -z "$rounds" ] || [[ "$rounds" =~ ^([1-9]|[1-9][0-9]|100)$ ]] || die "--rounds '$rounds': want a number 1..100"
[[ "$series" =~ ^[0-9]+\.[0-9]+$ ]] || die "--series '$series': want MAJOR.MINOR, e.g. 6.12"
if [ -n "$cpu" ]; then
    [[ "$cpu" =~ ^[0-9]+$ ]] && [ "$cpu" -lt "$(nproc)" ] || die "--cpu '$cpu': want 0..$(( $(nproc) - 1 ))"
else
    cpu=$(( $(nproc) - 1 ))
fi
if [ "$quick" = 1 ]; then
    sizes=(--xa-keys 20000 --tree-sizes 10000,100000 --reps 2)
    [ -n "$rounds" ] || rounds=1
    [ "$trials" = 7 ] && trials=3
else
    sizes=(--xa-keys 100000 --tree-sizes 10000,1000000)
fi

cache=${PFNTRACK_CACHE:-$HOME/.cache/pfntrack}/calibrate
mkdir -p "$cache" || die "cannot create cache directory $cache"

# Tools: install what is missing from Debian packages (root only).
need=()
command -v "${CC:-gcc}" >/dev/null || need+=(gcc libc6-dev)
command -v xz >/dev/null || need+=(xz-utils)
command -v taskset >/dev/null || need+=(util-linux)
if [ "$count" = 1 ]; then
    command -v valgrind >/dev/null || need+=(valgrind)
fi
if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing tools; install: ${need[*]}"
    echo "calibrate.sh: installing ${need[*]}" >&2
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null \
        || die "apt-get install ${need[*]} failed"
fi

# The kernel files the calibration compiles: the only ones taken from the tree.
files=(lib/xarray.c lib/rbtree.c lib/radix-tree.h include/linux/xarray.h
       include/linux/rbtree.h include/linux/rbtree_types.h
       include/linux/rbtree_augmented.h include/linux/interval_tree_generic.h
       Makefile)

# Which mirror: the system's own Debian mirror unless told otherwise.
debian_mirror() {
    if [ -n "${PFNTRACK_DEBIAN_MIRROR:-}" ]; then echo "$PFNTRACK_DEBIAN_MIRROR"; return; fi
    local m
    m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }')
    [ -n "$m" ] || m=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | tr ' ' '\n' | grep -m1 -E '^https?://.*/debian/?$' || true)
    [ -n "$m" ] || die "no Debian mirror in the system's apt configuration; set PFNTRACK_DEBIAN_MIRROR"
    echo "${m%/}"
}

fetch_source() {
    local dir="$cache/linux-source-$series" apt="$cache/apt" deb tarball mirror keyring
    if [ -f "$dir/.complete" ]; then echo "$dir"; return; fi
    command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null \
        || die "fetching needs apt-get and dpkg-deb (Debian); or pass --kernel-src DIR"
    mirror=$(debian_mirror)
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [ -f "$keyring" ] || die "$keyring missing: install debian-archive-keyring"
    mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/cache" "$apt/etc"
    cat > "$apt/etc/sources.list" <<SOURCES
deb [signed-by=$keyring] $mirror trixie main
deb [signed-by=$keyring] $mirror trixie-backports main
deb [signed-by=$keyring] $mirror bookworm-backports main
SOURCES
    local opts=(-o "Dir::Etc::SourceList=$apt/etc/sources.list" -o Dir::Etc::SourceParts=/nonexistent
                -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache::Archives=$apt/archives"
                -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
    echo "calibrate.sh: apt-get update (private lists in $apt)" >&2
    apt-get "${opts[@]}" update -qq >/dev/null || die "apt-get update failed"
    echo "calibrate.sh: downloading linux-source-$series" >&2
    (cd "$apt/archives" && apt-get "${opts[@]}" download "linux-source-$series" >/dev/null) \
        || die "apt-get download linux-source-$series failed"
    deb=$(ls -t "$apt/archives"/linux-source-"$series"_*.deb | head -1)
    tarball="./usr/src/linux-source-$series.tar.xz"
    rm -rf "$dir.partial"
    mkdir -p "$dir.partial"
    echo "calibrate.sh: extracting ${#files[@]} files from $(basename "$deb")" >&2
    dpkg-deb --fsys-tarfile "$deb" | tar -xOf - "$tarball" \
        | tar -xJf - -C "$dir.partial" --strip-components=1 \
            "${files[@]/#/linux-source-$series/}" \
        || die "extracting from $deb failed"
    basename "$deb" > "$dir.partial/.package"
    touch "$dir.partial/.complete"
    rm -rf "$dir"
    mv "$dir.partial" "$dir"
    echo "$dir"
}

if [ -n "$kernel_src" ]; then
    [ -d "$kernel_src" ] || die "--kernel-src $kernel_src: not a directory"
    src=$(cd "$kernel_src" && pwd)
    label="$src"
else
    src=$(fetch_source)
    label=$(cat "$src/.package")
fi
for f in "${files[@]}"; do
    [ -f "$src/$f" ] || die "$src/$f: missing from the kernel tree"
done
kver=$(awk -F' *= *' '/^VERSION/ {v=$2} /^PATCHLEVEL/ {p=$2} /^SUBLEVEL/ {s=$2} END {print v "." p "." s}' "$src/Makefile")
label="$label (Linux $kver)"

# Build kbench: the kernel headers the shim does not replace are copied
# into a private include directory, so nothing else from the tree leaks in.
build="$cache/build-$(echo "$src" | cksum | cut -d' ' -f1)"
mkdir -p "$build/include/linux" "$build/lib"
for h in xarray rbtree rbtree_types rbtree_augmented interval_tree_generic; do
    cp "$src/include/linux/$h.h" "$build/include/linux/"
done
cp "$src/lib/xarray.c" "$src/lib/rbtree.c" "$src/lib/radix-tree.h" "$build/lib/"
shim="$repo/scripts/calibrate/shim"
echo "calibrate.sh: compiling the kernel side ($label)" >&2
# -g only adds symbols and line tables (callgrind names the phase
# functions by them); the code is the same as without it.
"${CC:-gcc}" -O2 -g -std=gnu11 -fno-strict-aliasing -Wall -Wno-unused-function \
    -I "$shim" -I "$build/include" -o "$build/kbench" \
    "$repo/scripts/calibrate/kbench.c" "$shim/kshim.c" \
    "$build/lib/xarray.c" "$build/lib/rbtree.c" \
    || die "compiling kbench failed (kernel $kver with the shim)"

echo "calibrate.sh: building pfntrack's side" >&2
cargo build --release --quiet -p strategies --example calibrate || die "cargo build failed"

pin=()
command -v taskset >/dev/null && pin=(--pin "$cpu")
mode=()
[ "$count" = 1 ] && mode+=(--count)
[ "$allow_busy" = 1 ] && mode+=(--allow-busy)
[ -n "$rounds" ] && mode+=(--rounds "$rounds")
exec target/release/examples/calibrate drive --kbench "$build/kbench" --work "$build/keys" \
    --out "$out" --trials "$trials" "${pin[@]}" "${sizes[@]}" "${mode[@]}" --kernel-source "$label"
