#!/usr/bin/env bash
# The public GIS data opened by a real GIS client: GDAL/OGR's `ogrinfo` (Debian's
# gdal-bin, tests/setup/gdal.sh) reads the OGC API - Features service (`OAPIF:` driver,
# following the landing page, conformance, collections and `next` links) and the GeoJSON
# download, against the debug tarmim-server (built by `cargo test`) on a fresh SQLite
# demo city and a free port. Feature counts must match what the server says it holds.
# Prints `gis: N passed, M failed` last.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

bin="$root/target/debug/tarmim-server"
[ -x "$bin" ] || cargo build -p server --bin tarmim-server
command -v ogrinfo >/dev/null 2>&1 || bash tests/setup/gdal.sh

data=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env -u DATABASE_URL TARMIM_DATA_DIR="$data" TARMIM_LISTEN="127.0.0.1:$port" TARMIM_DEMO=true \
    RUST_LOG=warn "$bin" >"$data/server.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT

base="http://127.0.0.1:$port"
# Up to 180 s: the demo city seeds in over a minute on a busy machine.
ready=""
for _ in $(seq 1 900); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && { ready=1; break; }
    kill -0 "$pid" 2>/dev/null || { cat "$data/server.log"; echo "gis: 0 passed, 1 failed"; exit 1; }
    sleep 0.2
done
[ -n "$ready" ] || { tail -n 20 "$data/server.log"; echo "the server was not ready in 180 s"; echo "gis: 0 passed, 1 failed"; exit 1; }

passed=0
failed=0
check() { # name, command output file, expected grep pattern
    if grep -Eq "$3" "$2"; then
        echo "ok   $1"
        passed=$((passed + 1))
    else
        echo "FAIL $1: expected /$3/ in:"
        sed 's/^/    /' "$2" | head -n 40
        failed=$((failed + 1))
    fi
}
matched() { # the server's own count for a query of the tasks collection
    curl -fsS "$base/ogc/collections/tasks/items?limit=1&$1" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["numberMatched"])'
}

# GDAL reads no configuration or cache from the environment that could make it pass
# without asking the server.
export GDAL_HTTP_TIMEOUT=60 CPL_VSIL_CURL_USE_CACHE=NO GDAL_HTTP_UNSAFESSL=NO

all=$(matched "")
[ "$all" -gt 0 ] || { echo "the demo city has no tasks"; echo "gis: 0 passed, 1 failed"; exit 1; }
bbox="51.32,35.645,51.39,35.735"   # D01, D02, D05, D06 (the north-west quarter)
inbox=$(matched "bbox=$bbox")
closed=$(matched "status=closed")
echo "server: $all tasks, $inbox in $bbox, $closed closed"

out="$data/out.txt"
ogrinfo -ro -so OAPIF:"$base/ogc" >"$out" 2>&1 || true
check "OAPIF lists the collections" "$out" "tasks .*\(Point\)"
check "OAPIF lists districts" "$out" "districts .*\((Multi Polygon|MultiPolygon)\)"

ogrinfo -ro -al -so OAPIF:"$base/ogc" tasks >"$out" 2>&1 || true
check "OAPIF tasks: feature count $all" "$out" "^Feature Count: $all$"
check "OAPIF tasks: public fields" "$out" "^detailed_status: String"
check "OAPIF tasks: times as DateTime" "$out" "^requested_datetime: DateTime"
# Field lines are `name: Type (width.precision)`.
if grep -Eqi "^(assignee|crew|tracking[a-z_]*|description|notes|reporter)[a-z_]*: " "$out"; then
    echo "FAIL OAPIF tasks: a private field is listed"; failed=$((failed + 1))
else
    echo "ok   OAPIF tasks: no private field"; passed=$((passed + 1))
fi

# Every feature read through the paging links (not the count alone).
ogrinfo -ro -al -q OAPIF:"$base/ogc" tasks >"$out" 2>&1 || true
n=$(grep -c "^OGRFeature(tasks)" "$out" || true)
echo "features read: $n" >"$data/n.txt"
check "OAPIF tasks: $all features read by paging" "$data/n.txt" "^features read: $all$"

# A spatial filter goes to the server as bbox.
IFS=, read -r w s e n <<<"$bbox"
ogrinfo -ro -al -q -spat "$w" "$s" "$e" "$n" OAPIF:"$base/ogc" tasks >"$out" 2>&1 || true
n=$(grep -c "^OGRFeature(tasks)" "$out" || true)
echo "features read: $n" >"$data/n.txt"
check "OAPIF tasks with -spat: $inbox features" "$data/n.txt" "^features read: $inbox$"

ogrinfo -ro -al -so OAPIF:"$base/ogc" districts >"$out" 2>&1 || true
check "OAPIF districts: 12 polygons" "$out" "^Feature Count: 12$"

ogrinfo -ro -al -so "$base/api/v1/gis/tasks.geojson?limit=10000" >"$out" 2>&1 || true
check "GeoJSON download: feature count $all" "$out" "^Feature Count: $all$"
check "GeoJSON download: points" "$out" "^Geometry: Point"

ogrinfo -ro -al -so "$base/api/v1/gis/tasks.geojson?limit=10000&status=closed" >"$out" 2>&1 || true
check "GeoJSON download, closed only: $closed" "$out" "^Feature Count: $closed$"

if [ "$failed" -ne 0 ]; then echo "--- server log"; tail -n 30 "$data/server.log"; fi
echo "gis: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
