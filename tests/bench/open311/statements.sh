#!/usr/bin/env bash
# The database round trips of one Open311 POST on PostgreSQL: every statement the server
# sends while filing one report (after a first report has warmed the caches), from
# PostgreSQL's own statement log.
#
#   tests/bench/open311/statements.sh [/path/to/tarmim-server]
#
# Needs the local PostgreSQL's log file readable (Debian: /var/log/postgresql/, or
# PG_LOG=...). The database gets `log_statement = 'all'` (its own setting only) and is
# dropped at the end. Background loops (timers, outbox) may add a statement or two to
# the window: they are printed too, marked by their text.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT="$PWD"
BIN="${1:-${CARGO_TARGET_DIR:-$ROOT/target}/release/tarmim-server}"
ADMIN_URL="${TARMIM_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_LOG="${PG_LOG:-$(ls -t /var/log/postgresql/postgresql-*.log | head -1)}"
DB="tarmim_statements_$$"
DB_URL="${ADMIN_URL%/*}/$DB"
WORK="$(mktemp -d)"
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; fi
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"

psql "$ADMIN_URL" -qc "CREATE DATABASE $DB" >/dev/null
psql "$DB_URL" -qc "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
export DATABASE_URL="$DB_URL" TARMIM_DATA_DIR="$WORK/data" TARMIM_LISTEN="127.0.0.1:$PORT"
export TARMIM_DEMO=false RUST_LOG=warn
"$BIN" demo --tasks 20 >"$WORK/demo.log" 2>&1
psql "$ADMIN_URL" -qc "ALTER DATABASE $DB SET log_statement = 'all'" >/dev/null
"$BIN" serve >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done

post() {
    curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$PORT/open311/v2/requests.json" \
        -d api_key=o311_demo0000000000000000000000000000 -d "service_code=$3" \
        -d "lat=$1" -d "long=$2" -d description=Statements -d email=bench@example.org \
        -d 'attribute[size]=small'
}
# The warm-up: the same district and service, 2 km away (no duplicate of it below).
post 35.70 51.36 pothole >/dev/null
sleep 1
START=$(wc -l <"$PG_LOG")
echo "POST: $(post 35.69 51.38 pothole)"
sleep 0.5
tail -n +"$((START + 1))" "$PG_LOG" | grep -F "@$DB " | grep -E 'LOG: +(statement|execute)' \
    | sed -E 's/.*LOG: +(statement|execute [^:]*): //' | cut -c1-110 >"$WORK/statements.txt" || true
cat -n "$WORK/statements.txt"
echo "round trips: $(wc -l <"$WORK/statements.txt")"
