#!/usr/bin/env bash
# Install what the project needs from Debian when it is missing: PostgreSQL server binaries
# (initdb, pg_ctl), the clients (psql, pg_dump, pg_restore). Idempotent; quiet when all is there.
set -euo pipefail
have_server() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; }
have_clients() { command -v pg_dump >/dev/null && command -v pg_restore >/dev/null && command -v psql >/dev/null; }
if have_server && have_clients; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "PostgreSQL server/client binaries are missing: install the 'postgresql' package (needs root)" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q postgresql postgresql-contrib
