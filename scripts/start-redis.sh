#!/usr/bin/env bash
# Start a throw-away Redis on 127.0.0.1 for tests, and print its URL.
# Usage: scripts/start-redis.sh DIR [PORT]    Stop: scripts/stop-redis.sh DIR
# Nothing is persisted (no RDB snapshots, no AOF): fine for tests only.
set -euo pipefail
dir=${1:?usage: start-redis.sh DIR [PORT]}
port=${2:-56379}
command -v redis-server >/dev/null || { echo "redis-server not found: apt-get install -y redis-server" >&2; exit 1; }

# PING over a plain socket when redis-cli (package redis-tools) is absent.
ping() {
  if command -v redis-cli >/dev/null; then
    redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG
  else
    python3 - "$port" <<'PY' 2>/dev/null
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1) as s:
    s.sendall(b"PING\r\n")
    sys.exit(0 if s.recv(64).startswith(b"+PONG") else 1)
PY
  fi
}

# Another server already answering would be mistaken for ours.
if ping; then
  echo "Something already answers on 127.0.0.1:$port; pick another port." >&2
  exit 1
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --pidfile "$dir/redis.pid" \
  --dir "$dir" --logfile "$dir/redis.log" --save '' --appendonly no
for _ in $(seq 1 300); do
  if ping; then
    echo "redis://127.0.0.1:$port/0"
    exit 0
  fi
  sleep 0.1
done
echo "Redis did not answer on 127.0.0.1:$port within 30 s; see $dir/redis.log" >&2
exit 1
