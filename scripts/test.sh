#!/usr/bin/env bash
# README command 2: set up with the dev extras, then lint, type-check and run every test.
# Tests that need PostgreSQL run when SHIPYARD_TEST_POSTGRES_URL is set and are skipped
# (with the reason shown) otherwise; .ci/run starts PostgreSQL and sets it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev,postgres,redis
# Capital Bikeshare for the guardrail tests ships in ISLP, whose own imports need torch:
# only its data file is read, so it is installed without dependencies.
.venv/bin/python -m pip install --quiet --no-deps "ISLP==0.6.0"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest "$@"
