#!/usr/bin/env bash
# README command 1: set up, then create a workspace in ./quickstart-workspace and show it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
home=${1:-quickstart-workspace}
.venv/bin/shipyard --home "$home" init
.venv/bin/shipyard --home "$home" info
