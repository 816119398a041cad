#!/usr/bin/env bash
# The console's queue with 20,000 open tasks in dispatcher-r1's districts (D01–D04), on
# SQLite and on PostgreSQL: seeds the demo city and the load (`tarmim-server demo
# seed-load`, real documents through the store's commit path), then runs queue.mjs
# (time to first paint of the queue, time to open a task) against the server.
#
# Usage: tests/bench/console/run.sh [runs=7]
#   BIN      the server to measure (default target/debug/tarmim-server)
#   BASE_BIN another build to measure on the same databases, side by side (e.g. main's
#            before the paged queue: `git worktree add /tmp/old <commit>` and
#            `cargo build -p server --bin tarmim-server` there); optional
#   TASKS    how many open tasks (default 20000)
#   PG       a PostgreSQL server URL without a database (default
#            postgres://postgres@127.0.0.1); the database queue_bench is dropped and made
#            again. PG=none: SQLite only.
set -euo pipefail
cd "$(dirname "$0")/../../.."
root=$(pwd)
runs=${1:-7}
bin=${BIN:-$root/target/debug/tarmim-server}
tasks=${TASKS:-20000}
pg=${PG:-postgres://postgres@127.0.0.1}
[ -d tests/browser/node_modules/playwright-core ] || bash tests/setup/browser.sh
work=$(mktemp -d)
pid=
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; fi; }
trap 'stop; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# serve BIN DATA_DIR DB_URL: starts a server (the demo city on an empty database).
serve() {
    env -u DATABASE_URL ${3:+DATABASE_URL=$3} TARMIM_DATA_DIR="$2" TARMIM_LISTEN="127.0.0.1:$port" \
        TARMIM_DEMO=true RUST_LOG=warn "$1" >>"$2/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do
        curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || { tail -n 30 "$2/server.log"; return 1; }
        sleep 0.2
    done
    return 1
}

measure() { # LABEL BIN DATA_DIR DB_URL
    serve "$2" "$3" "$4"
    (cd tests/browser && TARMIM_BASE_URL="http://127.0.0.1:$port" TARMIM_BENCH_LABEL="$1" \
        node ../bench/console/queue.mjs "$runs")
    stop
}

backends=(sqlite)
[ "$pg" = none ] || backends+=(postgres)
for backend in "${backends[@]}"; do
    data="$work/$backend"
    mkdir -p "$data"
    url=
    if [ "$backend" = postgres ]; then
        psql "$pg/postgres" -qc 'DROP DATABASE IF EXISTS queue_bench' -c 'CREATE DATABASE queue_bench' >/dev/null
        url="$pg/queue_bench"
    fi
    # The demo city (first start), then the load.
    serve "$bin" "$data" "$url"
    stop
    env -u DATABASE_URL ${url:+DATABASE_URL=$url} TARMIM_DATA_DIR="$data" RUST_LOG=warn \
        "$bin" demo seed-load --tasks "$tasks"
    measure "this build, $backend" "$bin" "$data" "$url"
    if [ -n "${BASE_BIN:-}" ]; then
        measure "base build, $backend" "$BASE_BIN" "$data" "$url"
    fi
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
