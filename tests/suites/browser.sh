#!/usr/bin/env bash
# The dispatcher console in headless Chromium: starts the debug tarmim-server (built by
# `cargo test`) on a fresh SQLite data folder with the demo city and a free port, runs
# tests/browser with `node --test` (or only the test files named as arguments), and prints `browser: N passed, M failed`.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

bin="$root/target/debug/tarmim-server"
probe="$root/target/debug/examples/phone_probe"
# Normally there from `cargo test`; build only what is missing.
[ -x "$bin" ] || cargo build -p server --bin tarmim-server
[ -x "$probe" ] || cargo build -p server --example phone_probe
[ -d tests/browser/node_modules/playwright-core ] || bash tests/setup/browser.sh

data=$(mktemp -d)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
# Citizens' e-mail goes to a local SMTP sink (tests/browser/smtp-sink.mjs), which writes
# each message to $mailbox for the tests to read; Web Push is signed with a key made for
# this run and may go to the tests' local push service (plain HTTP on 127.0.0.1).
smtp_port=$(free_port)
mailbox="$data/mailbox"
node tests/browser/smtp-sink.mjs "$smtp_port" "$mailbox" &
sink=$!
vapid=$(node -e "const {generateKeyPairSync} = require('crypto'); \
  process.stdout.write(generateKeyPairSync('ec', {namedCurve: 'P-256'}).privateKey.export({format: 'jwk'}).d)")
env -u DATABASE_URL TARMIM_DATA_DIR="$data" TARMIM_LISTEN="127.0.0.1:$port" TARMIM_DEMO=true \
    TARMIM_POSITION_MIN_INTERVAL_MS=0 TARMIM_REPORT_PER_MINUTE=1000 \
    TARMIM_SMTP_URL="smtp://127.0.0.1:$smtp_port" TARMIM_OUTBOX_TICK_MS=100 \
    TARMIM_VAPID_PRIVATE_KEY="$vapid" TARMIM_PUSH_ALLOW_HTTP=true TARMIM_WEBPUSH_HOSTS=127.0.0.1 \
    RUST_LOG=warn "$bin" >"$data/server.log" 2>&1 &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    kill "$sink" 2>/dev/null || true; wait "$sink" 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT

# The demo city seeds in seconds on a quiet machine, in over a minute on a busy one.
ready=""
for _ in $(seq 1 900); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && { ready=1; break; }
    kill -0 "$pid" 2>/dev/null || { cat "$data/server.log"; echo "browser: 0 passed, 1 failed"; exit 1; }
    sleep 0.2
done
[ -n "$ready" ] || { tail -n 20 "$data/server.log"; echo "the demo server was not ready in 180 s"; echo "browser: 0 passed, 1 failed"; exit 1; }

out="$data/tap.txt"
status=0
(cd tests/browser && TARMIM_BASE_URL="http://127.0.0.1:$port" TARMIM_PHONE_PROBE="$probe" TARMIM_MAILBOX="$mailbox" \
    node --test --test-reporter=tap "$@") | tee "$out" || status=$?
passed=$(awk '/^# pass / {print $3}' "$out" | tail -n1)
failed=$(awk '/^# fail / {print $3}' "$out" | tail -n1)
passed=${passed:-0}
failed=${failed:-0}
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
if [ "$failed" -ne 0 ]; then echo "--- server log"; tail -n 50 "$data/server.log"; fi
echo "browser: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
