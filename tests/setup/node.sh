#!/usr/bin/env bash
# Makes sure Node.js is installed: the integrity tests run the reporting page's own
# proof-of-work script (server/web/integrity/pow.js) with `node` and check that the
# server accepts its stamps. Idempotent: installs Debian's nodejs only when `node` is missing.
set -euo pipefail
say() { echo "[node.sh] $*"; }
if command -v node >/dev/null 2>&1; then
    say "node $(node --version) present"
    exit 0
fi
say "node missing; installing Debian's nodejs"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y --no-install-recommends nodejs >/dev/null
say "node $(node --version) installed"
