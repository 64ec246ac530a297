#!/usr/bin/env bash
# Set up what `pfntrack kernel-check` needs to boot real kernels, as root on
# a Debian 12 machine:
#
#   scripts/kernel-vm.sh SERIES...        e.g. scripts/kernel-vm.sh 6.1 6.12 7.3
#   scripts/kernel-vm.sh --list           the series Debian offers, one a line
#
# 1. Host packages: qemu-system-x86 and busybox-static, installed with
#    apt-get through a private sources list and lists directory (/etc/apt is
#    only read). qemu-system-x86 comes from the suite of an installed
#    qemu-utils (bookworm-backports' qemu-utils conflicts with bookworm's
#    qemu-system-x86), else from bookworm.
# 2. For each SERIES (MAJOR.MINOR), the newest Debian `cloud-amd64` kernel
#    of that series: from bookworm, bookworm-security and bookworm-backports
#    before 6.16, from trixie-backports from 6.16 on. Downloaded with
#    `apt-get download` and unpacked with `dpkg-deb -x`, never installed;
#    from 6.19 the image package is a meta package and vmlinuz sits in the
#    `linux-binary-*` package it depends on.
#
# Everything is cached outside the tree, in $PFNTRACK_CACHE (default
# ~/.cache/pfntrack): kernels/SERIES/{vmlinuz,config,info}. A series whose
# newest package is already there is not downloaded again. Exit status is
# non-zero, with a message, on any failure.
set -euo pipefail

usage() {
    sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-2}"
}

die() {
    echo "kernel-vm.sh: $*" >&2
    exit 1
}

[ $# -ge 1 ] || usage 2
list=false
case "$1" in
    -h | --help) usage 0 ;;
    --list)
        [ $# -eq 1 ] || die "--list takes no series"
        list=true
        ;;
esac
$list || for s in "$@"; do
    [[ $s =~ ^[0-9]+\.[0-9]+$ ]] || die "series \`$s\` is not MAJOR.MINOR (e.g. 6.1, 6.12, 7.3)"
done

cache=${PFNTRACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pfntrack}
mirror=${PFNTRACK_DEBIAN_MIRROR:-http://deb.debian.org}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
start=$(date +%s)
mkdir -p "$cache"

# apt with a private sources list, lists and package cache under $1.
papt() {
    local dir=$1
    shift
    "$@" -o Dir::Etc::SourceList="$dir/sources.list" \
        -o Dir::Etc::SourceParts=/nonexistent \
        -o Dir::State::Lists="$dir/lists" \
        -o Dir::Cache="$dir/cache" \
        -o Dir::Cache::Archives="$dir/archives" \
        -o Dir::Cache::pkgcache=pkgcache.bin \
        -o Dir::Cache::srcpkgcache=srcpkgcache.bin \
        -o APT::Sandbox::User=root \
        -o DPkg::Lock::Timeout=600
}

# Write the private sources list for the suites named, then update it.
apt_dir() {
    local dir=$1
    shift
    mkdir -p "$dir/lists/partial" "$dir/cache" "$dir/archives/partial"
    : > "$dir/sources.list.tmp"
    for suite in "$@"; do
        local base=$mirror/debian
        [ "$suite" = bookworm-security ] && base=$mirror/debian-security
        echo "deb [signed-by=$keyring] $base $suite main" >> "$dir/sources.list.tmp"
    done
    mv "$dir/sources.list.tmp" "$dir/sources.list"
    papt "$dir" apt-get -q -o Acquire::Retries=3 update > "$dir/update.log" 2>&1 ||
        die "apt-get update failed (log: $dir/update.log)"
}

[ -r "$keyring" ] || die "$keyring is missing: install debian-archive-keyring"

# --- 1. host packages -------------------------------------------------------
# The initramfs needs a busybox that runs without libraries.
static_busybox() {
    dpkg-query -W -f='${Status}' busybox-static 2> /dev/null | grep -q 'ok installed'
}

host_packages() {
    if command -v qemu-system-x86_64 > /dev/null && static_busybox; then
        echo "host: $(qemu-system-x86_64 --version | head -1); busybox-static present"
        return
    fi
    [ "$(id -u)" = 0 ] || die "qemu-system-x86 and busybox-static are missing: run as root to install them"
    local qemu_suite=bookworm
    if dpkg-query -W -f='${Version}' qemu-utils 2> /dev/null | grep -q 'bpo12'; then
        qemu_suite=bookworm-backports
    fi
    echo "host: installing qemu-system-x86 (from $qemu_suite) and busybox-static"
    apt_dir "$cache/apt-host" bookworm bookworm-updates bookworm-security bookworm-backports
    DEBIAN_FRONTEND=noninteractive papt "$cache/apt-host" apt-get -q -y \
        --no-install-recommends -t "$qemu_suite" install qemu-system-x86 busybox-static \
        > "$cache/apt-host/install.log" 2>&1 ||
        die "installing qemu-system-x86 busybox-static failed (log: $cache/apt-host/install.log)"
    command -v qemu-system-x86_64 > /dev/null || die "qemu-system-x86_64 is still missing"
    echo "host: $(qemu-system-x86_64 --version | head -1)"
}
$list || host_packages

# --- 2. kernels ---------------------------------------------------------------
kapt=$cache/apt-kernels
apt_dir "$kapt" bookworm bookworm-security bookworm-backports trixie trixie-backports

# Is MAJOR.MINOR $1 before 6.16 (the last VM_PAT series is 6.15)?
before_6_16() {
    local major=${1%%.*} minor=${1#*.}
    [ "$major" -lt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -lt 16 ]; }
}

# Print "PACKAGE VERSION" of the newest cloud-amd64 image of series $1.
# Only images named by a full kernel version (linux-image-6.1.0-57-...,
# linux-image-6.12.117+deb12-..., linux-image-7.3.4+deb13-...): the
# linux-image-6.12-cloud-amd64 style meta packages only point at those.
newest_image() {
    local series=$1 suites best_pkg="" best_ver="" pkg ver src suite
    if before_6_16 "$series"; then
        suites="bookworm bookworm-security bookworm-backports"
    else
        suites="trixie-backports"
    fi
    # madison: "pkg | version | url suite/main amd64 Packages", one line
    # per version and suite.
    while IFS='|' read -r pkg ver src; do
        pkg=${pkg// /}
        ver=${ver// /}
        suite=$(awk '{print $2}' <<< "$src")
        suite=${suite%%/*}
        [[ " $suites " == *" $suite "* ]] || continue
        [[ $ver == "$series".* ]] || continue
        if [ -z "$best_ver" ] || dpkg --compare-versions "$ver" gt "$best_ver"; then
            best_pkg=$pkg
            best_ver=$ver
        fi
    # $images is a word list on purpose: one madison call for them all.
    # shellcheck disable=SC2086
    done < <(papt "$kapt" apt-cache madison $images)
    [ -n "$best_pkg" ] || return 1
    echo "$best_pkg $best_ver"
}

images=$(papt "$kapt" apt-cache pkgnames linux-image- |
    grep -E '^linux-image-[0-9]+\.[0-9]+\.[0-9]+[^ ]*-cloud-amd64$' | sort | tr '\n' ' ')
[ -n "$images" ] || die "no linux-image-*-cloud-amd64 package in the package lists ($kapt)"

if $list; then
    for series in $(sed -E 's/linux-image-([0-9]+\.[0-9]+)\.[^ ]*/\1/g' <<< "$images" | tr ' ' '\n' | sort -uV); do
        newest_image "$series" > /dev/null && echo "$series"
    done
    exit 0
fi

for series in "$@"; do
    read -r pkg ver < <(newest_image "$series") ||
        die "no linux-image-*-cloud-amd64 package of series $series in $(before_6_16 "$series" && echo 'bookworm, bookworm-security, bookworm-backports' || echo trixie-backports)"
    out=$cache/kernels/$series
    if [ -f "$out/info" ] && grep -qx "version=$ver" "$out/info" && [ -s "$out/vmlinuz" ]; then
        echo "kernel $series: $pkg $ver (cached in $out)"
        continue
    fi
    echo "kernel $series: downloading $pkg $ver"
    mkdir -p "$cache/logs"
    log=$cache/logs/download-$series.log
    : > "$log"
    dl=$(mktemp -d "$cache/dl.XXXXXX")
    trap 'rm -rf "$dl"' EXIT
    # Download package $1 (at the image's version) into its own directory
    # and unpack it into $dl/root.
    fetch() {
        mkdir -p "$dl/pkg-$1"
        (cd "$dl/pkg-$1" && papt "$kapt" apt-get -q download "$1=$ver") >> "$log" 2>&1 ||
            die "apt-get download $1=$ver failed (log: $log)"
        dpkg-deb -x "$dl/pkg-$1"/*.deb "$dl/root"
    }
    find_file() {
        find "$dl/root" \( -path "*/boot/$1-*" -o -path "*/lib/modules/*/$1" \) -type f 2> /dev/null | head -1
    }
    fetch "$pkg"
    # From 7.x the image is a meta package: vmlinuz is in the linux-binary
    # package it depends on, the config in linux-base (same version). Only
    # dependencies that exist as packages are fetched (some images depend
    # on a linux-base that only other packages provide).
    if [ -z "$(find_file vmlinuz)" ] || [ -z "$(find_file config)" ]; then
        for dep in $(dpkg-deb -f "$dl/pkg-$pkg"/*.deb Depends | tr ',' '\n' |
            sed 's/^ *//; s/ .*//' | grep -E '^linux-(binary|base)-[0-9]' || true); do
            if papt "$kapt" apt-cache madison "$dep" | grep -qF "| $ver |"; then
                fetch "$dep"
            fi
        done
    fi
    vmlinuz=$(find_file vmlinuz)
    config=$(find_file config)
    [ -n "$vmlinuz" ] || die "no vmlinuz in $pkg $ver nor in the packages it depends on (log: $log)"
    release=$(find "$dl/root" -maxdepth 4 -path '*/lib/modules/*' -type d | sed -n 's#.*/lib/modules/\([^/]*\)$#\1#p' | head -1)
    # Packages with no modules directory name the release in vmlinuz-RELEASE.
    [ -n "$release" ] || release=$(basename "$vmlinuz" | sed -n 's/^vmlinuz-//p')
    mkdir -p "$out"
    cp "$vmlinuz" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
    if [ -n "$config" ]; then
        cp "$config" "$out/config.tmp" && mv "$out/config.tmp" "$out/config"
    fi
    printf 'series=%s\npackage=%s\nversion=%s\nrelease=%s\n' "$series" "$pkg" "$ver" "$release" > "$out/info.tmp"
    mv "$out/info.tmp" "$out/info"
    rm -rf "$dl"
    trap - EXIT
    echo "kernel $series: $pkg $ver -> $out"
done

echo "set-up done in $(($(date +%s) - start)) s; cache: $cache"
