#!/usr/bin/env bash
# Makes sure Debian's chromium is installed: server/tests/it/integrity.rs drives the integrity
# reporting page in headless Chromium over the DevTools protocol (no npm packages needed).
# Idempotent: installs only when `chromium` is missing (apt-get update only when the package
# is not known yet).
set -euo pipefail
say() { echo "[chromium.sh] $*"; }
export DEBIAN_FRONTEND=noninteractive
if command -v chromium >/dev/null 2>&1; then
    say "chromium present: $(chromium --version 2>/dev/null || echo unknown version)"
    exit 0
fi
if ! apt-cache show chromium >/dev/null 2>&1; then
    say "package lists do not know chromium: apt-get update"
    apt-get update -qq
fi
say "installing chromium"
apt-get install -y --no-install-recommends chromium fonts-dejavu-core >/dev/null
say "chromium installed: $(chromium --version 2>/dev/null || echo unknown version)"
