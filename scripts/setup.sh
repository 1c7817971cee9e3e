#!/usr/bin/env bash
# Create ./.venv (if missing) and install Shipyard into it with the given extras.
# Usage: scripts/setup.sh [EXTRAS]     e.g. scripts/setup.sh dev,postgres
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:-}
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv || {
    echo "Could not create a virtual environment. On Debian: apt-get install -y python3-venv" >&2
    exit 1
  }
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ -n "$extras" ]; then
  .venv/bin/python -m pip install --quiet -e ".[$extras]"
else
  .venv/bin/python -m pip install --quiet -e .
fi
