#!/usr/bin/env bash
# What the bindings suite (tests/suites/bindings.sh) needs, installed only when missing:
# - pytest (PyPI) for the Python test; `cryptography` and `h2` (PyPI) for its local push
#   receivers (RFC 8291 decryption, JWT signatures, APNs' HTTP/2);
# - JNA from Debian (libjna-java: the jar; libjna-jni: libjnidispatch) for the Kotlin test;
# - the Kotlin 2.x compiler from the npm package `kotlin-compiler` (Debian's kotlin 1.3 is
#   too old for UniFFI's generated code), installed into a cache folder outside the repo
#   (TARMIM_TOOLS_DIR, default ~/.cache/tarmim-tools) so that CI does not download it again.
# Idempotent; prints what it did.
set -euo pipefail

say() { echo "[bindings.sh] $*"; }
export DEBIAN_FRONTEND=noninteractive
TOOLS="${TARMIM_TOOLS_DIR:-$HOME/.cache/tarmim-tools}"
KOTLIN_VERSION="2.4.20"

# --- pytest --------------------------------------------------------------------------------
if python3 -c 'import pytest' >/dev/null 2>&1; then
    say "pytest $(python3 -c 'import pytest; print(pytest.__version__)') already installed"
else
    say "installing pytest"
    python3 -m pip install --quiet --disable-pip-version-check pytest
fi
if python3 -c 'import cryptography, h2' >/dev/null 2>&1; then
    say "cryptography and h2 already installed"
else
    say "installing cryptography and h2"
    python3 -m pip install --quiet --disable-pip-version-check cryptography h2
fi

# --- JNA -----------------------------------------------------------------------------------
need=()
for pkg in libjna-java libjna-jni; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ "${#need[@]}" -eq 0 ]; then
    say "JNA already installed"
else
    if ! apt-cache show libjna-java >/dev/null 2>&1; then
        say "package lists do not know libjna-java: apt-get update"
        apt-get update -qq
    fi
    say "installing ${need[*]}"
    apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
fi

# --- kotlinc -------------------------------------------------------------------------------
KOTLINC="$TOOLS/kotlin/node_modules/kotlin-compiler/bin/kotlinc"
if [ -x "$KOTLINC" ]; then
    say "kotlinc already in $TOOLS/kotlin"
else
    say "installing npm kotlin-compiler@${KOTLIN_VERSION} into $TOOLS/kotlin"
    mkdir -p "$TOOLS/kotlin"
    npm install --silent --no-audit --no-fund --prefix "$TOOLS/kotlin" "kotlin-compiler@${KOTLIN_VERSION}" >/dev/null
    chmod +x "$TOOLS/kotlin/node_modules/kotlin-compiler/bin/"* 2>/dev/null || true
fi
"$KOTLINC" -version 2>&1 | tail -n 1
say "ready"
