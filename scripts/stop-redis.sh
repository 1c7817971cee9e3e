#!/usr/bin/env bash
# Stop a server started by scripts/start-redis.sh DIR (by the pid in DIR/redis.pid).
set -euo pipefail
dir=${1:?usage: stop-redis.sh DIR}
exec "$(dirname "$0")/stop-pid.sh" "$dir/redis.pid" Redis
