#!/usr/bin/env bash
# Compiles the generated Kotlin bindings with TwoPhonesTest.kt and runs it on the JVM with
# Debian's JNA. Arguments: <generated kotlin dir> <libtarmim_mobile.so> <kotlinc> <work dir>.
# The server and logins come from the environment (see tests/suites/bindings.sh).
set -euo pipefail
GEN="$1"; LIB="$2"; KOTLINC="$3"; WORK="$4"
HERE="$(cd "$(dirname "$0")" && pwd)"
JNA_JAR=/usr/share/java/jna.jar
JNI_DIR="$(dirname "$(dpkg -L libjna-jni | grep 'libjnidispatch.system.so$' | head -n1)")"
STDLIB="$(dirname "$KOTLINC")/../lib/kotlin-stdlib.jar"
mkdir -p "$WORK"
"$KOTLINC" -nowarn -cp "$JNA_JAR" -d "$WORK/test.jar" \
    $(find "$GEN" -name '*.kt') "$HERE/TwoPhonesTest.kt"
java -Djna.nosys=false -Djava.library.path="$JNI_DIR" -Djna.boot.library.name=jnidispatch.system \
    -Djna.library.path="$(dirname "$LIB")" \
    -cp "$WORK/test.jar:$JNA_JAR:$STDLIB" TwoPhonesTestKt
