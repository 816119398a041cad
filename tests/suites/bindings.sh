#!/usr/bin/env bash
# The phone bindings, used from the phones' own languages against a real server.
#
# Reuses what `cargo test --workspace` built (target/debug: libtarmim_mobile.so, the
# uniffi-bindgen binary, tarmim-server); builds only what is missing. Then:
#  1. generates the Kotlin, Swift and Python bindings into target/bindings/ (build output);
#  2. starts the real tarmim-server on a free loopback port over a temporary SQLite data
#     folder with the demo city, plus a second member of crew C-D01-A, and configured to
#     wake phones through local FCM, APNs and Web Push receivers that the Python test
#     starts (mobile-bindings/tests/python/push_receivers.py);
#  3. runs the Python tests (pytest), the Kotlin test (kotlinc + JNA) and the Swift API
#     surface check;
#  4. prints `bindings: N passed, M failed`.
# Tools come from tests/setup/bindings.sh (TARMIM_TOOLS_DIR, default ~/.cache/tarmim-tools).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
TOOLS="${TARMIM_TOOLS_DIR:-$HOME/.cache/tarmim-tools}"
KOTLINC="$TOOLS/kotlin/node_modules/kotlin-compiler/bin/kotlinc"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
LIB="$TARGET/debug/libtarmim_mobile.so"
# `cargo test` builds the cdylib into target/debug/deps/ but does not copy it up into
# target/debug/; without this the check below found no library and rebuilt the server
# under other features (1.5 minutes of CI).
[ -f "$LIB" ] || LIB="$TARGET/debug/deps/libtarmim_mobile.so"
BINDGEN="$TARGET/debug/uniffi-bindgen"
SERVER="$TARGET/debug/tarmim-server"
OUT="$TARGET/bindings"
passed=0
failed=0
say() { echo "[bindings] $*"; }
finish() {
    echo "bindings: ${passed} passed, ${failed} failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
    exit $?
}

# --- what cargo test built (build only what is missing) -----------------------------------
if [ ! -f "$LIB" ] || [ ! -x "$BINDGEN" ] || [ ! -x "$SERVER" ]; then
    say "building the library, the generator and the server"
    cargo build --locked -p mobile-bindings -p uniffi-bindgen -p server || { failed=1; finish; }
fi

# --- 1. generate ---------------------------------------------------------------------------
rm -rf "$OUT"
for lang in python kotlin swift; do
    if "$BINDGEN" generate --library "$LIB" --language "$lang" --out-dir "$OUT/$lang" --no-format >"$OUT.$lang.log" 2>&1; then
        say "generated $lang bindings"
    else
        cat "$OUT.$lang.log"; say "FAILED to generate $lang bindings"; failed=$((failed + 1))
    fi
    rm -f "$OUT.$lang.log"
done
[ "$failed" -eq 0 ] || finish
cp "$LIB" "$OUT/python/"

# --- 2. the server -------------------------------------------------------------------------
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
export TARMIM_DATA_DIR="$WORK/server" TARMIM_LISTEN="127.0.0.1:$PORT" TARMIM_LOG_FORMAT=json
export RUST_LOG="${RUST_LOG:-warn}"
# Crews also see their district's open tasks (one configuration the tests cover; a crew's
# own field report is in its scope either way).
export TARMIM_CREW_SEES_DISTRICT_OPEN=true
unset DATABASE_URL
# Push wake-ups (issue 20 §1): a VAPID key, an FCM service account (the throwaway key of
# the server's tests) and an APNs .p8 key, made for this run; FCM and APNs are reached at
# loopback ports where test_push_wake.py starts its receivers. The metrics token lets
# that test see the server notice a socket close.
python3 "$ROOT/mobile-bindings/tests/python/push_receivers.py" setup "$WORK/push" \
    "$ROOT/server/tests/fixtures/push/fcm-test-key.pem" >"$WORK/push.env" \
    || { cat "$WORK/push.env"; failed=$((failed + 1)); finish; }
# shellcheck disable=SC1091
. "$WORK/push.env"
export TARMIM_METRICS_TOKEN="bindings-suite-metrics-token"
"$SERVER" demo >"$WORK/demo.log" 2>&1 || { cat "$WORK/demo.log"; failed=$((failed + 1)); finish; }
export TARMIM_TEST_SECOND_LOGIN="crew-d01-a-2" TARMIM_TEST_SECOND_PASSWORD="second-member-pw"
echo "$TARMIM_TEST_SECOND_PASSWORD" | "$SERVER" user add --login "$TARMIM_TEST_SECOND_LOGIN" \
    --password-stdin --role crew --crew C-D01-A >>"$WORK/demo.log" 2>&1 \
    || { cat "$WORK/demo.log"; failed=$((failed + 1)); finish; }
# A crew of its own for the test that moves it to another district (its phone then drops
# the old district's tasks), so the other tests keep theirs.
export TARMIM_TEST_MOVING_CREW="C-MOVING" TARMIM_TEST_MOVING_FROM="D02" TARMIM_TEST_MOVING_TO="D03"
export TARMIM_TEST_MOVING_LOGIN="crew-moving" TARMIM_TEST_MOVING_PASSWORD="moving-crew-pw"
export TARMIM_TEST_SERVER_BIN="$SERVER"
# A member of crew C-D01-A of its own for the test that disables the user (its phone then
# drops the crew's tasks), so the other tests' logins stay enabled.
export TARMIM_TEST_DISABLED_LOGIN="crew-d01-a-off" TARMIM_TEST_DISABLED_PASSWORD="disabled-crew-pw"
echo "$TARMIM_TEST_DISABLED_PASSWORD" | "$SERVER" user add --login "$TARMIM_TEST_DISABLED_LOGIN" \
    --password-stdin --role crew --crew C-D01-A >>"$WORK/demo.log" 2>&1 \
    || { cat "$WORK/demo.log"; failed=$((failed + 1)); finish; }
# The crew whose phones test_push_wake.py pockets and wakes: alone in D06 to report a
# position, so an urgent leak there is its job.
export TARMIM_TEST_PUSH_CREW="C-PUSH" TARMIM_TEST_PUSH_LOGIN="crew-push" TARMIM_TEST_PUSH_PASSWORD="push-crew-pw"
{ "$SERVER" crew add --id "$TARMIM_TEST_PUSH_CREW" --name "Pocket crew" --district D06 \
      --skill water_leak --on-duty \
  && echo "$TARMIM_TEST_PUSH_PASSWORD" | "$SERVER" user add --login "$TARMIM_TEST_PUSH_LOGIN" \
      --password-stdin --role crew --crew "$TARMIM_TEST_PUSH_CREW"; } >>"$WORK/demo.log" 2>&1 \
    || { cat "$WORK/demo.log"; failed=$((failed + 1)); finish; }
{ "$SERVER" crew add --id "$TARMIM_TEST_MOVING_CREW" --name "Moving crew" \
      --district "$TARMIM_TEST_MOVING_FROM" \
  && echo "$TARMIM_TEST_MOVING_PASSWORD" | "$SERVER" user add --login "$TARMIM_TEST_MOVING_LOGIN" \
      --password-stdin --role crew --crew "$TARMIM_TEST_MOVING_CREW"; } >>"$WORK/demo.log" 2>&1 \
    || { cat "$WORK/demo.log"; failed=$((failed + 1)); finish; }
"$SERVER" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
if ! curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null; then
    cat "$WORK/server.log"; say "the server did not start"; failed=$((failed + 1)); finish
fi
say "server on 127.0.0.1:$PORT (pid $SERVER_PID)"
export TARMIM_TEST_URL="http://127.0.0.1:$PORT"
export TARMIM_TEST_LOGIN="crew-d01-a" TARMIM_TEST_PASSWORD="demo-crew"
export TARMIM_TEST_OTHER_DISTRICT="D07"

# --- 3a. Python ----------------------------------------------------------------------------
say "Python (pytest)"
PYLOG="$WORK/pytest.log"
TARMIM_BINDINGS_PY="$OUT/python" python3 -m pytest -q -p no:cacheprovider \
    "$ROOT/mobile-bindings/tests/python" 2>&1 | tee "$PYLOG"
py_passed=$(grep -Eo '[0-9]+ passed' "$PYLOG" | tail -n1 | grep -Eo '[0-9]+' || echo 0)
py_failed=$(grep -Eo '[0-9]+ (failed|error)' "$PYLOG" | awk '{s+=$1} END {print s+0}')
[ "$py_passed" -gt 0 ] || py_failed=$((py_failed + 1))
passed=$((passed + py_passed)); failed=$((failed + py_failed))

# --- 3b. Kotlin ----------------------------------------------------------------------------
say "Kotlin (kotlinc + JNA)"
if bash "$ROOT/mobile-bindings/tests/kotlin/run.sh" "$OUT/kotlin" "$LIB" "$KOTLINC" "$WORK/kotlin"; then
    passed=$((passed + 1))
else
    say "Kotlin test FAILED"; failed=$((failed + 1))
fi

# --- 3c. Swift API surface -----------------------------------------------------------------
say "Swift (API surface of the generated bindings)"
if python3 "$ROOT/mobile-bindings/tests/swift/check_api.py" "$OUT/swift"; then
    passed=$((passed + 1))
else
    say "Swift API check FAILED"; failed=$((failed + 1))
fi

if [ "$failed" -ne 0 ]; then
    say "server log (last 40 lines):"; tail -n 40 "$WORK/server.log"
fi
finish
