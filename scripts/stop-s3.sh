#!/usr/bin/env bash
# Stop a server started by scripts/start-s3.sh DIR (by the pid in DIR/moto.pid).
set -euo pipefail
dir=${1:?usage: stop-s3.sh DIR}
exec "$(dirname "$0")/stop-pid.sh" "$dir/moto.pid" "The S3 server"
