#!/usr/bin/env bash
# Start a throw-away PostgreSQL cluster on 127.0.0.1 for tests, and print its SQLAlchemy URL.
# Usage: scripts/start-postgres.sh DIR [PORT]    Stop: scripts/stop-postgres.sh DIR
# fsync and friends are off: fast, and fine for tests only.
set -euo pipefail
dir=${1:?usage: start-postgres.sh DIR [PORT]}
port=${2:-55432}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL server binaries not found: apt-get install -y postgresql" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
if [ ! -f "$dir/data/PG_VERSION" ]; then
  as_pg "$bin/initdb -D '$dir/data' -U postgres --auth=trust -E UTF8 >'$dir/initdb.log' 2>&1"
fi
as_pg "$bin/pg_ctl -D '$dir/data' -l '$dir/server.log' -w -t 60 start -o \"-c listen_addresses=127.0.0.1 -p $port -k '$dir' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200\"" >/dev/null
psql="$bin/psql -h 127.0.0.1 -p $port -U postgres -v ON_ERROR_STOP=1 -q"
$psql -tc "SELECT 1 FROM pg_roles WHERE rolname='shipyard'" | grep -q 1 || $psql -c "CREATE ROLE shipyard LOGIN SUPERUSER PASSWORD 'shipyard'"
$psql -tc "SELECT 1 FROM pg_database WHERE datname='shipyard'" | grep -q 1 || $psql -c "CREATE DATABASE shipyard OWNER shipyard"
echo "postgresql+psycopg://shipyard:shipyard@127.0.0.1:$port/shipyard"
