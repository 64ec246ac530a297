#!/usr/bin/env bash
# Install the browser the chart page test (harness/tests/browser.rs) loads
# the generated pages in: Debian's `chromium` package, at /usr/bin/chromium.
# Idempotent; exit 0 when it is there, 1 (with the reason) when it could not
# be installed (not root nor password-less sudo, no apt, no mirror).
#
#   scripts/install-chromium.sh
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi
command -v apt-get >/dev/null || { echo "chromium not installed: no apt-get (not Debian?)" >&2; exit 1; }
as_root=()
if [ "$(id -u)" -ne 0 ]; then
    sudo -n true 2>/dev/null || { echo "chromium not installed: apt-get needs root (or password-less sudo)" >&2; exit 1; }
    as_root=(sudo -n)
fi
if ! "${as_root[@]}" apt-get update >&2; then
    echo "chromium not installed: apt-get update failed" >&2
    exit 1
fi
if ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >&2; then
    echo "chromium not installed: apt-get install chromium failed" >&2
    exit 1
fi
[ -x /usr/bin/chromium ] || { echo "chromium not installed: /usr/bin/chromium missing after install" >&2; exit 1; }
