#!/usr/bin/env bash
# Refreshes the vendored Leaflet (the console's map library) from npm: the files the
# console serves (dist/leaflet.js, leaflet.css, images/) and the licence, with the version
# recorded in VERSION. Usage: server/web/console/vendor/refresh-leaflet.sh [version]
set -euo pipefail
version="${1:-1.9.4}"
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "leaflet@$version" >/dev/null && tar xzf "leaflet-$version.tgz")
dest="$here/leaflet"
rm -rf "$dest"
mkdir -p "$dest/images"
cp "$tmp/package/dist/leaflet.js" "$tmp/package/dist/leaflet.css" "$tmp/package/LICENSE" "$dest/"
cp "$tmp/package/dist/images/"*.png "$dest/images/"
printf 'leaflet %s from npm (https://www.npmjs.com/package/leaflet), BSD-2-Clause (see LICENSE)\n' "$version" > "$dest/VERSION"
echo "vendored leaflet $version into $dest"
