#!/usr/bin/env bash
# README command 2: set up with the dev extras, then lint, type-check and run every test.
# Tests that need PostgreSQL run when SHIPYARD_TEST_POSTGRES_URL is set and are skipped
# (with the reason shown) otherwise; .ci/run starts PostgreSQL and sets it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev,postgres,redis,dask,s3
# Capital Bikeshare for the guardrail tests ships in ISLP, whose own imports need torch:
# only its data file is read, so it is installed without dependencies.
.venv/bin/python -m pip install --quiet --no-deps "ISLP==0.6.0"
# XGBoost's flavor and experiment are tested too: the CPU-only wheel (xgboost-cpu, about
# 6 MB; xgboost's is about 130 MB and pulls NVIDIA NCCL), unless some xgboost is installed.
.venv/bin/python -c "import xgboost" 2>/dev/null || .venv/bin/python -m pip install --quiet "xgboost-cpu>=2.1"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# One worker per core (SHIPYARD_TEST_WORKERS to change; 0 runs in this process); a test
# file stays on one worker, so its module fixtures are built once.
.venv/bin/pytest -n "${SHIPYARD_TEST_WORKERS:-auto}" --dist loadfile "$@"
