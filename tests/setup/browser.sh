#!/usr/bin/env bash
# Makes sure the browser tests can run: Debian's chromium (headless, driven through
# playwright-core's executablePath) and tests/browser's npm packages.
#
# Idempotent: installs chromium only if it is missing (apt-get update only when the package
# is not known yet); runs `npm install` in tests/browser only when node_modules is missing
# or older than the lock file. `npm install`, not `npm ci`: npm 11 refuses `npm ci` for some
# lock files (see tests/bench/automerge-repo); the committed lock still pins every version.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { echo "[browser.sh] $*"; }
export DEBIAN_FRONTEND=noninteractive

if command -v chromium >/dev/null 2>&1; then
    say "chromium already installed: $(chromium --version 2>/dev/null || echo unknown version)"
else
    if ! apt-cache show chromium >/dev/null 2>&1; then
        say "package lists do not know chromium: apt-get update"
        apt-get update -qq
    fi
    say "installing chromium"
    apt-get install -y --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    say "node and npm are needed for the browser tests"
    exit 1
fi

dir=tests/browser
if [ ! -d "$dir/node_modules/playwright-core" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    say "npm install in $dir"
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
else
    say "$dir/node_modules up to date"
fi
