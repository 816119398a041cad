#!/usr/bin/env bash
# What the replicas suite (tests/suites/replicas.sh) needs: HAProxy from Debian's
# packages, the reverse proxy the two-replica failover run goes through (its
# configuration, tests/replicas/haproxy.cfg, is the reference of docs/scaling.md).
# Installed only when missing; the package's own service is not used (the suite starts
# its proxy in the foreground on a free port). Idempotent.
set -euo pipefail

say() { echo "[proxy.sh] $*"; }
export DEBIAN_FRONTEND=noninteractive

if command -v haproxy >/dev/null 2>&1; then
    say "$(haproxy -v | head -n 1) already installed"
    exit 0
fi
if ! apt-cache show haproxy >/dev/null 2>&1; then
    say "package lists do not know haproxy: apt-get update"
    apt-get update -qq
fi
say "installing haproxy"
apt-get install -y --no-install-recommends haproxy >/dev/null
# The package starts its own service where there is an init system; this machine's tests
# start theirs, so a packaged one is stopped (harmless where none runs).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet haproxy 2>/dev/null; then
    systemctl stop haproxy || true
fi
say "$(haproxy -v | head -n 1) ready"
