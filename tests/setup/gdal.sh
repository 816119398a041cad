#!/usr/bin/env bash
# What the GIS suite (tests/suites/gis.sh) needs: GDAL's command-line tools from Debian
# (`gdal-bin`: ogrinfo), to check that the OGC API – Features service and the GeoJSON
# export open in a real GIS client. Installed only when missing; idempotent.
set -euo pipefail

say() { echo "[gdal.sh] $*"; }
export DEBIAN_FRONTEND=noninteractive

if command -v ogrinfo >/dev/null 2>&1; then
    say "$(ogrinfo --version) already installed"
    exit 0
fi
if ! apt-cache show gdal-bin >/dev/null 2>&1; then
    say "package lists do not know gdal-bin: apt-get update"
    apt-get update -qq
fi
say "installing gdal-bin"
apt-get install -y --no-install-recommends gdal-bin >/dev/null
say "$(ogrinfo --version) ready"
