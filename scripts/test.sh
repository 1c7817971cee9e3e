#!/usr/bin/env bash
# README command 2: set up with the dev extras, then lint, type-check and run every test.
# Tests that need PostgreSQL run when SHIPYARD_TEST_POSTGRES_URL is set and are skipped
# (with the reason shown) otherwise; .ci/run starts PostgreSQL and sets it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev,postgres,redis
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest "$@"
