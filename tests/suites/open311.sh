#!/usr/bin/env bash
# Open311 conformance, against the live server in both formats (tests/open311/, pytest).
#
# Reuses the debug build (target/debug/tarmim-server; built only if missing), creates a
# fresh PostgreSQL + PostGIS database (dropped at the end), seeds the demo city into it
# (`tarmim-server demo`: districts, services with their Open311 definitions, the demo
# api_key, tasks), starts the server on a free loopback port, runs the tests and prints
# `open311: N passed, M failed`. PostgreSQL: TARMIM_TEST_PG_URL (default
# postgres://postgres@127.0.0.1:5432/postgres); tests/setup/postgres.sh starts it.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
SERVER="$TARGET/debug/tarmim-server"
ADMIN_URL="${TARMIM_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB="tarmim_open311_$$_$RANDOM"
DB_URL="${ADMIN_URL%/*}/$DB"
passed=0
failed=0
say() { echo "[open311] $*"; }
finish() {
    echo "open311: ${passed} passed, ${failed} failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
    exit $?
}

if [ ! -x "$SERVER" ]; then
    say "building the server"
    cargo build --locked -p server --bin tarmim-server || { failed=1; finish; }
fi

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

if ! psql "$ADMIN_URL" -qc "CREATE DATABASE $DB" >/dev/null 2>"$WORK/psql.log"; then
    cat "$WORK/psql.log"; say "PostgreSQL is not reachable at $ADMIN_URL (run tests/setup/postgres.sh)"
    failed=1; finish
fi
psql "$DB_URL" -qc "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null || { failed=1; finish; }

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
export DATABASE_URL="$DB_URL" TARMIM_DATA_DIR="$WORK/server" TARMIM_LISTEN="127.0.0.1:$PORT"
export TARMIM_LOG_FORMAT=json RUST_LOG="${RUST_LOG:-warn}" TARMIM_DEMO=false
# A small media limit, so the 413 case sends a small body.
export TARMIM_OPEN311_MAX_MEDIA_BYTES=200000
"$SERVER" demo --tasks 60 >"$WORK/demo.log" 2>&1 || { cat "$WORK/demo.log"; failed=1; finish; }
"$SERVER" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
if ! curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null; then
    cat "$WORK/server.log"; say "the server did not start"; failed=1; finish
fi
say "server on 127.0.0.1:$PORT (pid $SERVER_PID), database $DB"

export TARMIM_TEST_URL="http://127.0.0.1:$PORT"
LOG="$WORK/pytest.log"
python3 -m pytest -q -p no:cacheprovider "$ROOT/tests/open311" 2>&1 | tee "$LOG"
passed=$(grep -Eo '[0-9]+ passed' "$LOG" | tail -n1 | grep -Eo '[0-9]+' || echo 0)
failed=$(grep -Eo '[0-9]+ (failed|error|errors)' "$LOG" | awk '{s+=$1} END {print s+0}')
[ "$passed" -gt 0 ] || failed=$((failed + 1))
if grep -q '"level":"ERROR"' "$WORK/server.log"; then
    say "the server logged errors:"; grep '"level":"ERROR"' "$WORK/server.log" | tail -n 20
    failed=$((failed + 1))
fi
if [ "$failed" -ne 0 ]; then
    say "server log (last 40 lines):"; tail -n 40 "$WORK/server.log"
fi
finish
