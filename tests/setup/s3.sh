#!/usr/bin/env bash
# Installs moto's S3-compatible server (PyPI `moto[server]`, command `moto_server`) for the
# photo storage tests, in its own virtualenv at /opt/tarmim-moto. Idempotent: does nothing
# when `moto_server` is already there. The tests start it themselves on a free port
# (server/tests/it/photos.rs; override the command with TARMIM_MOTO_SERVER).
set -euo pipefail

say() { echo "[s3.sh] $*"; }
VENV=/opt/tarmim-moto

if [ -x "$VENV/bin/moto_server" ]; then
    say "moto_server already installed in $VENV"
    exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1; then
    say "python3 venv missing: installing python3-venv"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y --no-install-recommends python3-venv >/dev/null
fi
say "installing moto[server] into $VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q 'moto[server]==5.2.5'
"$VENV/bin/moto_server" --help >/dev/null
say "moto_server installed"
