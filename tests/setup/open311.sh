#!/usr/bin/env bash
# What the Open311 conformance suite (tests/suites/open311.sh) needs, installed only when
# missing: pytest and requests from PyPI (XML is read with the standard library's
# xml.etree). Idempotent; prints what it did.
set -euo pipefail
say() { echo "[open311.sh] $*"; }
for mod in pytest requests; do
    if python3 -c "import $mod" >/dev/null 2>&1; then
        say "$mod $(python3 -c "import $mod; print($mod.__version__)") already installed"
    else
        say "installing $mod"
        python3 -m pip install --quiet --disable-pip-version-check "$mod"
    fi
done
say "ready"
