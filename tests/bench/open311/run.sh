#!/usr/bin/env bash
# Open311 POST throughput on PostgreSQL and SQLite beside a plain axum "hello" (the
# ceiling), on this machine, over loopback, with wrk (Debian's package; installed if
# missing).
#
#   tests/bench/open311/run.sh [duration, default 20s] [connections, default 32]
#
# Builds release (tarmim-server and the `hello` example). For each backend
# (TARMIM_BENCH_BACKENDS, default "postgres sqlite") a fresh database (a PostgreSQL one is
# dropped at the end) with the demo city, the server, a 3 s warm-up, then wrk with
# post.lua (form bodies at random points in the city, the demo api_key); then the same
# wrk against hello. With TARMIM_BENCH_BEFORE=/path/to/an/older/tarmim-server the older
# binary is measured first the same way, in the same run (before/after side by side on a
# shared machine). Prints requests per second, p50 and p99 with the load average
# (uptime) beside each figure: wrk and the servers share the machine's cores.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT="$PWD"
DURATION="${1:-20s}"
CONNS="${2:-32}"
THREADS=2
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
ADMIN_URL="${TARMIM_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
BACKENDS="${TARMIM_BENCH_BACKENDS:-postgres sqlite}"
BEFORE="${TARMIM_BENCH_BEFORE:-}"

if ! command -v wrk >/dev/null; then
    echo "installing wrk (Debian)"
    apt-get install -y --no-install-recommends wrk >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y --no-install-recommends wrk >/dev/null; }
fi
CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" cargo build --release -p server --bin tarmim-server --example hello
AFTER="$TARGET/release/tarmim-server"

WORK="$(mktemp -d)"
PIDS=()
DBS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    for d in "${DBS[@]}"; do
        psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_up() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }
load() { awk '{print $1, $2, $3}' /proc/loadavg; }
rps() { awk '/^Requests\/sec/ {print $2}' "$1"; }
pct() { awk -v p="$2" '$1 == p {print $2}' "$1"; }
errors() { awk '/Non-2xx|Socket errors/ {print}' "$1" | tr '\n' ' '; }

ROWS=()
# measure NAME BINARY BACKEND
measure() {
    local name="$1" bin="$2" backend="$3" n="${#ROWS[@]}"
    local dir="$WORK/run$n" port db="" url=""
    mkdir -p "$dir"
    port="$(free_port)"
    if [ "$backend" = postgres ]; then
        db="tarmim_bench_open311_$$_$n"
        DBS+=("$db")
        url="${ADMIN_URL%/*}/$db"
        psql "$ADMIN_URL" -qc "CREATE DATABASE $db" >/dev/null
        psql "$url" -qc "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
    fi
    (
        if [ -n "$url" ]; then export DATABASE_URL="$url"; else unset DATABASE_URL; fi
        export TARMIM_DATA_DIR="$dir/data" TARMIM_LISTEN="127.0.0.1:$port"
        export TARMIM_DEMO=false RUST_LOG=warn TARMIM_LOG_FORMAT=json
        "$bin" demo --tasks 300 >"$dir/demo.log" 2>&1
        exec "$bin" serve >"$dir/server.log" 2>&1
    ) &
    local pid=$!
    PIDS+=("$pid")
    wait_up "http://127.0.0.1:$port/healthz"
    wrk -t"$THREADS" -c"$CONNS" -d3s -s "$ROOT/tests/bench/open311/post.lua" \
        "http://127.0.0.1:$port" >/dev/null
    local before_load after_load
    before_load="$(load)"
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$ROOT/tests/bench/open311/post.lua" \
        "http://127.0.0.1:$port" >"$dir/wrk.txt"
    after_load="$(load)"
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    ROWS+=("$(printf '%-44s %10s %9s %9s   %-16s %-16s %s' "$name ($backend)" \
        "$(rps "$dir/wrk.txt")" "$(pct "$dir/wrk.txt" 50%)" "$(pct "$dir/wrk.txt" 99%)" \
        "$before_load" "$after_load" "$(errors "$dir/wrk.txt")")")
    echo "${ROWS[-1]}"
}

for backend in $BACKENDS; do
    if [ -n "$BEFORE" ]; then measure "before: Open311 POST requests.json" "$BEFORE" "$backend"; fi
    measure "Open311 POST requests.json" "$AFTER" "$backend"
done

HPORT="$(free_port)"
"$TARGET/release/examples/hello" "127.0.0.1:$HPORT" 2>/dev/null &
PIDS+=($!)
wait_up "http://127.0.0.1:$HPORT/hello"
before_load="$(load)"
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$HPORT/hello" >"$WORK/hello.txt"
after_load="$(load)"
ROWS+=("$(printf '%-44s %10s %9s %9s   %-16s %-16s %s' "axum hello (ceiling)" \
    "$(rps "$WORK/hello.txt")" "$(pct "$WORK/hello.txt" 50%)" "$(pct "$WORK/hello.txt" 99%)" \
    "$before_load" "$after_load" "$(errors "$WORK/hello.txt")")")

echo
echo "wrk -t$THREADS -c$CONNS -d$DURATION over loopback; load average (1, 5, 15 min) before and after each"
printf '%-44s %10s %9s %9s   %-16s %-16s %s\n' "what" "requests/s" "p50" "p99" "load before" "load after" "errors"
for r in "${ROWS[@]}"; do echo "$r"; done
