#!/usr/bin/env bash
# Refreshes the vendored uPlot (the manager pages' chart library) from npm: the minified
# build and its stylesheet, with the licence and the version in VERSION.
# Usage: server/web/console/vendor/refresh-uplot.sh [version]
set -euo pipefail
version="${1:-1.6.32}"
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$version" >/dev/null && tar xzf "uplot-$version.tgz")
dest="$here/uplot"
rm -rf "$dest"
mkdir -p "$dest"
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" "$tmp/package/LICENSE" "$dest/"
printf 'uplot %s from npm (https://www.npmjs.com/package/uplot), MIT (see LICENSE)\n' "$version" > "$dest/VERSION"
echo "vendored uplot $version into $dest"
