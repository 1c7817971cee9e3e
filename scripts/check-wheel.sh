#!/usr/bin/env bash
# Check that Shipyard installs and runs from its wheel, not only from this checkout:
# build the wheel, install it with the quickstart extra into a fresh virtual environment
# in a temporary folder, run the quickstart from another folder, then run each
# "look further" command it prints exactly as printed (the environment is not activated).
# Usage: scripts/check-wheel.sh        (PYTHON=python3.12 to choose the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
started=$SECONDS
stage() { echo "--- [$((SECONDS - started)) s] $*"; }

work=$(mktemp -d /tmp/shipyard-wheel.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Build from a copy of what the wheel is made of, so no build/ or egg-info is left here.
mkdir "$work/source"
cp -r pyproject.toml README.md src "$work/source/"
find "$work/source" -name __pycache__ -prune -exec rm -rf {} +
stage "building the wheel"
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$work/source"
wheel=$(ls "$work"/dist/shipyard-*.whl)

stage "installing $(basename "$wheel") with the quickstart extra into a fresh environment"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "$wheel[quickstart]"

stage "shipyard quickstart --every-nth-day 14, from another folder (the e2e test runs every 7th day)"
mkdir "$work/elsewhere"
cd "$work/elsewhere"
"$work/venv/bin/shipyard" quickstart qs --every-nth-day 14 | tee quickstart.log

# The commands are the indented lines after "Look further:" (a note in parentheses aside).
# The commands printed after training (the lifecycle's report follows them).
mapfile -t commands < <(sed -n '/^Look further:/,/^The pipeline stopped/p' quickstart.log | grep -E '^  [^ (]')
if [ ${#commands[@]} -ne 5 ]; then
  echo "check-wheel: expected 5 'look further' commands, found ${#commands[@]}" >&2
  exit 1
fi
for command in "${commands[@]}"; do
  stage "as printed: ${command#  }"
  bash -c "$command" >/dev/null
done
stage "done: the wheel installs and runs"
