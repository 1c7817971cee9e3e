#!/usr/bin/env bash
# Stop a server started by scripts/start-redis.sh DIR (by the pid in DIR/redis.pid).
set -euo pipefail
dir=${1:?usage: stop-redis.sh DIR}
pidfile="$dir/redis.pid"
[ -f "$pidfile" ] || { echo "No $pidfile: no Redis started from $dir." >&2; exit 1; }
pid=$(cat "$pidfile")
if kill "$pid" 2>/dev/null; then
  # SIGTERM makes Redis exit cleanly; wait so the port is free when we return.
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "Redis (pid $pid) did not stop within 10 s; killing it." >&2
    kill -9 "$pid" 2>/dev/null || true
  fi
fi
rm -f "$pidfile"
