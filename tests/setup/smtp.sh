#!/usr/bin/env bash
# What the e-mail test against a real SMTP server (server/tests/it/notify_smtp.rs, which
# starts tests/smtp/server.py) needs, installed only when missing: aiosmtpd from PyPI (the
# SMTP server, STARTTLS and AUTH) and Debian's openssl (the test's self-signed CA and
# certificate). Runs before `cargo test` (tests/run runs every setup script first).
# Idempotent; prints what it did.
set -euo pipefail
say() { echo "[smtp.sh] $*"; }
export DEBIAN_FRONTEND=noninteractive

if python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
    say "aiosmtpd $(python3 -c 'import aiosmtpd; print(aiosmtpd.__version__)') already installed"
else
    say "installing aiosmtpd"
    python3 -m pip install --quiet --disable-pip-version-check aiosmtpd
fi

if command -v openssl >/dev/null 2>&1; then
    say "$(openssl version) present"
else
    if ! apt-cache show openssl >/dev/null 2>&1; then
        say "package lists do not know openssl: apt-get update"
        apt-get update -qq
    fi
    say "installing openssl"
    apt-get install -y --no-install-recommends openssl >/dev/null
fi
say "ready"
