#!/usr/bin/env bash
# Makes sure a local PostgreSQL with PostGIS is up for the server's tests.
#
# Idempotent: installs PostGIS only if it is missing (running `apt-get update` only when the
# package is not known yet), starts the cluster only if it is down, and checks that
# `CREATE EXTENSION postgis` works in a scratch database. Exports nothing; prints what it did.
# The tests connect as `postgres` over 127.0.0.1 with trust auth
# (override with TARMIM_TEST_PG_URL, e.g. postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail

say() { echo "[postgres.sh] $*"; }

export DEBIAN_FRONTEND=noninteractive

# --- PostgreSQL itself -------------------------------------------------------------------
if ! ls /etc/postgresql >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    say "no PostgreSQL cluster found; installing postgresql"
    apt-get update -qq
    apt-get install -y --no-install-recommends postgresql >/dev/null
fi
PG_VER="$(ls /etc/postgresql | sort -V | tail -n1)"
say "PostgreSQL major version: ${PG_VER}"

# --- PostGIS -----------------------------------------------------------------------------
POSTGIS_PKG="postgresql-${PG_VER}-postgis-3"
if dpkg-query -W -f='${Status}' "${POSTGIS_PKG}" 2>/dev/null | grep -q "install ok installed"; then
    say "${POSTGIS_PKG} already installed"
else
    if ! apt-cache show "${POSTGIS_PKG}" >/dev/null 2>&1; then
        say "package lists do not know ${POSTGIS_PKG}: apt-get update"
        apt-get update -qq
    fi
    say "installing ${POSTGIS_PKG}"
    apt-get install -y --no-install-recommends "${POSTGIS_PKG}" >/dev/null
    say "installed ${POSTGIS_PKG}"
fi

# --- the cluster -------------------------------------------------------------------------
if pg_isready -h 127.0.0.1 -q; then
    say "cluster ${PG_VER}/main already accepting connections"
else
    say "starting cluster ${PG_VER}/main"
    pg_ctlcluster --skip-systemctl-redirect "${PG_VER}" main start || true
fi
for _ in $(seq 1 60); do
    if pg_isready -h 127.0.0.1 -q; then break; fi
    sleep 0.5
done
if ! pg_isready -h 127.0.0.1; then
    say "PostgreSQL does not answer on 127.0.0.1"
    exit 1
fi

# --- check PostGIS in a scratch database -------------------------------------------------
export PGOPTIONS="-c client_min_messages=warning"
PSQL=(psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -qAt)
SCRATCH="tarmim_setup_check_$$"
"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS ${SCRATCH}" >/dev/null
"${PSQL[@]}" -d postgres -c "CREATE DATABASE ${SCRATCH}" >/dev/null
trap '"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS ${SCRATCH}" >/dev/null 2>&1 || true' EXIT
"${PSQL[@]}" -d "${SCRATCH}" -c "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
PGIS="$("${PSQL[@]}" -d "${SCRATCH}" -c "SELECT postgis_lib_version()")"
say "PostGIS ${PGIS} works (checked in scratch database ${SCRATCH}, now dropped)"
say "ready: postgres://postgres@127.0.0.1:5432/postgres"
