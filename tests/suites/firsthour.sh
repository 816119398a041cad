#!/usr/bin/env bash
# A newcomer's first hour, tested (issue 22): starts the server exactly the way README.md
# says ("## Run the server": the first command of its block), on a fresh data folder and a
# free port, and checks that the command compiled nothing after `cargo test` built the
# workspace (the test and run builds select the same features) and how long it took to
# serve. Then tests/browser/firsthour/newcomer.mjs follows the README and
# server/README.md with what the server printed — demo logins, tracking codes, the
# Open311 key, the integrity commands — in headless Chromium and from the shell.
# Prints `firsthour: N passed, M failed`.
#
# FIRSTHOUR_SHOTS=<folder>: also write the walkthrough's screenshots there
# (docs/quickstart/ is made this way).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

[ -d tests/browser/node_modules/playwright-core ] || bash tests/setup/browser.sh

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }
finish() { echo "firsthour: ${passed} passed, ${failed} failed"; [ "$failed" -eq 0 ]; }

# The README's run command, as a newcomer copies it.
cmd=$(awk '/^## Run the server/ { section = 1; next }
           section && /^## / { exit }
           section && /^```/ { if (block) exit; block = 1; next }
           block && NF { print; exit }' README.md)
case "$cmd" in
  "cargo run "*) ok "README.md's run command: $cmd" ;;
  *) not_ok "README.md has no 'cargo run …' command under '## Run the server' (found: '$cmd')"; finish; exit 1 ;;
esac

work=$(mktemp -d)
data="$work/data"
log="$work/server.log"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Only what a newcomer may not have is set: a fresh data folder and a free port (the
# README's default port may be taken on a CI machine). No other TARMIM_* setting, no
# database URL: the embedded default.
started=$(date +%s%N)
# `cargo run` replaces itself with the server (exec on Unix), so $pid is the server.
env -u DATABASE_URL -u TARMIM_DEMO -u TARMIM_CONFIG -u RUST_LOG \
  TARMIM_DATA_DIR="$data" TARMIM_LISTEN="127.0.0.1:$port" \
  bash -c "exec $cmd" >"$log" 2>&1 &
pid=$!
serving=
for _ in $(seq 1 3000); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then serving=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
compiled=$(grep -c '^ *Compiling ' "$log" || true)
if [ -z "$serving" ]; then
  not_ok "the README's run command did not serve (log below)"
  tail -n 40 "$log"
  finish
  exit 1
fi
secs=$(awk -v ms="$elapsed_ms" 'BEGIN { printf "%.1f", ms / 1000 }')
echo "# the README's run command: ${compiled} crate(s) compiled, serving after ${secs} s"
if [ "$compiled" -eq 0 ]; then
  ok "the README's run command compiled nothing after the tests' build (serving after ${secs} s)"
else
  # Only meaningful after `cargo test --workspace` (as in tests/run): a different
  # feature selection rebuilds the server (about 10 minutes on 2 cores).
  grep '^ *Compiling ' "$log" | head -n 20
  not_ok "the README's run command compiled ${compiled} crate(s) after the tests' build"
fi

shots=${FIRSTHOUR_SHOTS:-}
case "$shots" in "" | /*) ;; *) shots="$root/$shots" ;; esac
[ -z "$shots" ] || mkdir -p "$shots"
tap="$work/tap.txt"
status=0
(cd tests/browser && TARMIM_BASE_URL="http://127.0.0.1:$port" FIRSTHOUR_LOG="$log" \
  FIRSTHOUR_ROOT="$root" FIRSTHOUR_SHOTS="$shots" \
  node --test --test-reporter=tap firsthour/newcomer.mjs) | tee "$tap" || status=$?
p=$(awk '/^# pass / {print $3}' "$tap" | tail -n1)
f=$(awk '/^# fail / {print $3}' "$tap" | tail -n1)
passed=$((passed + ${p:-0}))
failed=$((failed + ${f:-0}))
if [ "$status" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then failed=$((failed + 1)); fi
if [ "$failed" -ne 0 ]; then echo "--- server log"; tail -n 60 "$log"; fi
finish
