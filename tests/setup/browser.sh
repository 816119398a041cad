#!/usr/bin/env bash
# Makes sure the browser tests can run: Debian's chromium (headless, driven through
# playwright-core's executablePath) and tests/browser's npm packages.
#
# Idempotent: chromium and node come from tests/setup/chromium.sh and node.sh (installed
# only when missing); runs `npm install` in tests/browser only when node_modules is missing
# or older than the lock file. `npm install`, not `npm ci`: npm 11 refuses `npm ci` for some
# lock files (see tests/bench/automerge-repo); the committed lock still pins every version.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { echo "[browser.sh] $*"; }

# Chromium and Node have their own idempotent installers (other tests need them too).
bash tests/setup/chromium.sh
bash tests/setup/node.sh
if ! command -v npm >/dev/null 2>&1; then
    say "npm is needed for the browser tests"
    exit 1
fi

dir=tests/browser
if [ ! -d "$dir/node_modules/playwright-core" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    say "npm install in $dir"
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
else
    say "$dir/node_modules up to date"
fi
