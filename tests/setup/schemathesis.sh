#!/usr/bin/env bash
# What the API fuzz suite (tests/suites/apifuzz.sh) needs: schemathesis (PyPI), which
# generates requests from the served OpenAPI document. Installed only when missing (a
# known version, so that CI runs are comparable); idempotent.
set -euo pipefail

say() { echo "[schemathesis.sh] $*"; }
VERSION="4.32.5"

if command -v schemathesis >/dev/null 2>&1 && python3 -c 'import schemathesis' >/dev/null 2>&1; then
    say "schemathesis $(python3 -c 'import schemathesis; print(schemathesis.__version__)' 2>/dev/null || echo '?') already installed"
    exit 0
fi
say "installing schemathesis==${VERSION}"
python3 -m pip install --quiet --disable-pip-version-check "schemathesis==${VERSION}"
command -v schemathesis >/dev/null 2>&1 || { command -v pyenv >/dev/null 2>&1 && pyenv rehash; }
say "schemathesis ready"
