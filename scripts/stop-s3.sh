#!/usr/bin/env bash
# Stop a server started by scripts/start-s3.sh DIR (by the pid in DIR/moto.pid).
set -euo pipefail
dir=${1:?usage: stop-s3.sh DIR}
pidfile="$dir/moto.pid"
[ -f "$pidfile" ] || { echo "No $pidfile: no S3 server started from $dir." >&2; exit 1; }
pid=$(cat "$pidfile")
if kill "$pid" 2>/dev/null; then
  # Wait, so the port is free when we return.
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "The S3 server (pid $pid) did not stop within 10 s; killing it." >&2
    kill -9 "$pid" 2>/dev/null || true
  fi
fi
rm -f "$pidfile"
