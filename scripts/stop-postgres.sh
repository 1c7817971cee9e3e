#!/usr/bin/env bash
# Stop a cluster started by scripts/start-postgres.sh DIR.
set -euo pipefail
dir=${1:?usage: stop-postgres.sh DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ "$(id -u)" = 0 ]; then
  su postgres -s /bin/sh -c "$bin/pg_ctl -D '$dir/data' -m fast stop" >/dev/null
else
  "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null
fi
