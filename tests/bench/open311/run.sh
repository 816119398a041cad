#!/usr/bin/env bash
# Open311 POST throughput on PostgreSQL beside a plain axum "hello" (the ceiling), on
# this machine, over loopback, with wrk (Debian's package; installed if missing).
#
#   tests/bench/open311/run.sh [duration, default 20s] [connections, default 32]
#
# Builds release (tarmim-server and the `hello` example), creates a fresh PostgreSQL
# database (dropped at the end), seeds the demo city, starts the server, runs wrk with
# post.lua (form bodies at random points in the city, the demo api_key), then the same
# wrk against hello, and prints requests per second and p99 latency side by side.
# wrk and both servers share the machine's cores: say what else was running (uptime).
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT="$PWD"
DURATION="${1:-20s}"
CONNS="${2:-32}"
THREADS=2
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
ADMIN_URL="${TARMIM_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB="tarmim_bench_open311_$$"
DB_URL="${ADMIN_URL%/*}/$DB"

if ! command -v wrk >/dev/null; then
    echo "installing wrk (Debian)"
    apt-get install -y --no-install-recommends wrk >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y --no-install-recommends wrk >/dev/null; }
fi
CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" cargo build --release -p server --bin tarmim-server --example hello

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_up() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }

psql "$ADMIN_URL" -qc "CREATE DATABASE $DB" >/dev/null
psql "$DB_URL" -qc "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
PORT="$(free_port)"
export DATABASE_URL="$DB_URL" TARMIM_DATA_DIR="$WORK/data" TARMIM_LISTEN="127.0.0.1:$PORT"
export TARMIM_DEMO=false RUST_LOG=warn TARMIM_LOG_FORMAT=json
"$TARGET/release/tarmim-server" demo --tasks 300 >"$WORK/demo.log" 2>&1
"$TARGET/release/tarmim-server" serve >"$WORK/server.log" 2>&1 &
PIDS+=($!)
wait_up "http://127.0.0.1:$PORT/healthz"
HPORT="$(free_port)"
"$TARGET/release/examples/hello" "127.0.0.1:$HPORT" 2>/dev/null &
PIDS+=($!)
wait_up "http://127.0.0.1:$HPORT/hello"

echo "load before: $(uptime)"
echo "warm-up (3 s)"
wrk -t"$THREADS" -c"$CONNS" -d3s -s "$ROOT/tests/bench/open311/post.lua" "http://127.0.0.1:$PORT" >/dev/null
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$ROOT/tests/bench/open311/post.lua" \
    "http://127.0.0.1:$PORT" | tee "$WORK/open311.txt"
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$HPORT/hello" | tee "$WORK/hello.txt"
echo "load after: $(uptime)"

rps() { awk '/^Requests\/sec/ {print $2}' "$1"; }
p99() { awk '$1 == "99%" {print $2}' "$1"; }
errors() { awk '/Non-2xx|Socket errors/ {print}' "$1" | tr '\n' ' '; }
filed=$(psql "$DB_URL" -tAc "SELECT count(*) FROM open311_requests")
echo
printf '%-34s %12s %10s\n' "what (wrk -t$THREADS -c$CONNS -d$DURATION)" "requests/s" "p99"
printf '%-34s %12s %10s\n' "Open311 POST requests.json (PG)" "$(rps "$WORK/open311.txt")" "$(p99 "$WORK/open311.txt")"
printf '%-34s %12s %10s\n' "axum hello (ceiling)" "$(rps "$WORK/hello.txt")" "$(p99 "$WORK/hello.txt")"
echo "reports filed: $filed; Open311 errors: $(errors "$WORK/open311.txt")"
