#!/usr/bin/env bash
# Start a throw-away S3-compatible server (moto's) on 127.0.0.1 for tests, and print its
# endpoint URL (for SHIPYARD_TEST_S3_ENDPOINT, or AWS_ENDPOINT_URL_S3 for any S3 client).
# Usage: scripts/start-s3.sh DIR [PORT]    Stop: scripts/stop-s3.sh DIR
# It runs from ./.venv, which has moto's server with the dev extra (scripts/setup.sh dev).
# It accepts any credentials and keeps everything in memory: fine for tests only.
set -euo pipefail
dir=${1:?usage: start-s3.sh DIR [PORT]}
port=${2:-55000}
python="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python"
if ! "$python" -c "import moto.server, flask" 2>/dev/null; then
  echo "moto's server is not installed in .venv: run scripts/setup.sh dev first." >&2
  exit 1
fi

# 0: an S3 server answers there; 1: something else or nothing; 2: nothing listens.
probe() {
  python3 - "$port" <<'PY' 2>/dev/null
import socket, sys, urllib.request
port = int(sys.argv[1])
try:
    socket.create_connection(("127.0.0.1", port), timeout=1).close()
except OSError:
    sys.exit(2)
try:  # moto answers ListBuckets on /
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as reply:
        sys.exit(0 if b"ListAllMyBucketsResult" in reply.read() else 1)
except OSError:
    sys.exit(1)
PY
}

status=0
probe || status=$?
if [ "$status" -ne 2 ]; then
  echo "Something already listens on 127.0.0.1:$port; pick another port." >&2
  exit 1
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# Its output goes to a file: a command substitution around this script returns at once.
nohup "$python" -m moto.server -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 </dev/null &
echo $! >"$dir/moto.pid"
for _ in $(seq 1 300); do
  if probe; then
    echo "http://127.0.0.1:$port"
    exit 0
  fi
  if ! kill -0 "$(cat "$dir/moto.pid")" 2>/dev/null; then
    echo "moto's server exited; see $dir/moto.log" >&2
    exit 1
  fi
  sleep 0.1
done
echo "moto's server did not answer on 127.0.0.1:$port within 30 s; see $dir/moto.log" >&2
exit 1
