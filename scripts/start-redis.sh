#!/usr/bin/env bash
# Start a throw-away Redis on 127.0.0.1 for tests, and print its URL.
# Usage: scripts/start-redis.sh DIR [PORT [PASSWORD]]    Stop: scripts/stop-redis.sh DIR
# With PASSWORD the server requires it (requirepass, kept in DIR/auth.conf rather than on the
# command line) and the URL printed is redis://:PASSWORD@127.0.0.1:PORT/0; the password goes
# into the URL as it is, so it may use only letters, digits and . _ ~ -
# Nothing is persisted (no RDB snapshots, no AOF): fine for tests only.
set -euo pipefail
dir=${1:?usage: start-redis.sh DIR [PORT [PASSWORD]]}
port=${2:-56379}
password=${3:-}
command -v redis-server >/dev/null || { echo "redis-server not found: apt-get install -y redis-server" >&2; exit 1; }
if [[ -n "$password" && ! "$password" =~ ^[A-Za-z0-9._~-]+$ ]]; then
  echo "The password may use only letters, digits and . _ ~ - (it goes into a URL as it is)." >&2
  exit 1
fi

# PING (after AUTH when there is a password) over a plain socket, in RESP so any password
# characters pass through; redis-cli is not needed.
ping() {
  python3 - "$port" "$password" <<'PY' 2>/dev/null
import socket, sys
port, password = int(sys.argv[1]), sys.argv[2]

def command(*words):
    out = b"*%d\r\n" % len(words)
    for word in words:
        data = word.encode()
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out

with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
    s.sendall((command("AUTH", password) if password else b"") + command("PING"))
    reply = b""
    while b"PONG" not in reply and not reply.startswith(b"-"):
        chunk = s.recv(256)
        if not chunk:
            break
        reply += chunk
    sys.exit(0 if b"+PONG" in reply and b"-" not in reply[:1] else 1)
PY
}

# Anything already listening there (a Redis with another password, say) would be mistaken
# for ours.
listening() {
  python3 - "$port" <<'PY' 2>/dev/null
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

if listening; then
  echo "Something already listens on 127.0.0.1:$port; pick another port." >&2
  exit 1
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
config=()
if [ -n "$password" ]; then
  (umask 077 && printf 'requirepass %s\n' "$password" >"$dir/auth.conf")
  config=("$dir/auth.conf")
fi
redis-server ${config[@]+"${config[@]}"} --bind 127.0.0.1 --port "$port" --daemonize yes \
  --pidfile "$dir/redis.pid" --dir "$dir" --logfile "$dir/redis.log" --save '' --appendonly no
for _ in $(seq 1 300); do
  if ping; then
    echo "redis://${password:+:$password@}127.0.0.1:$port/0"
    exit 0
  fi
  sleep 0.1
done
echo "Redis did not answer on 127.0.0.1:$port within 30 s; see $dir/redis.log" >&2
exit 1
