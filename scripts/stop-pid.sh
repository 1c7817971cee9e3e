#!/usr/bin/env bash
# Stop the server whose pid is in PIDFILE (SIGTERM, then SIGKILL after 10 s), then remove
# the file; NAME says what it is in messages. The stop-*.sh scripts call this.
# Usage: scripts/stop-pid.sh PIDFILE NAME
set -euo pipefail
pidfile=${1:?usage: stop-pid.sh PIDFILE NAME}
name=${2:?usage: stop-pid.sh PIDFILE NAME}
[ -f "$pidfile" ] || { echo "No $pidfile: no $name started there." >&2; exit 1; }
pid=$(cat "$pidfile")
if kill "$pid" 2>/dev/null; then
  # SIGTERM lets it exit cleanly; wait so the port is free when we return.
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$name (pid $pid) did not stop within 10 s; killing it." >&2
    kill -9 "$pid" 2>/dev/null || true
  fi
fi
rm -f "$pidfile"
