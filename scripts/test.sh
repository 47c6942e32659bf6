#!/usr/bin/env bash
# The test command: lint, unit tests, notebook hygiene, and every notebook under nbval in the smoke
# profile. Artifacts go to a scratch folder, never into the repository. Exits non-zero on any failure,
# including pytest's "no tests collected" (exit 5).
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export E2S_PROFILE=smoke HF_HUB_OFFLINE=1 MPLBACKEND=Agg
export E2S_OUTPUT_DIR="$scratch/outputs" E2S_FIGURES_DIR="$scratch/figures"
# explorers draw static images under nbval (the rule of e2s_utils.explore.widget_mode)
export E2S_WIDGETS=static
unset E2S_DATA_DIR E2S_WEIGHTS_DIR

echo "== ruff (package, tests, benchmarks, notebooks)"
ruff check .
ruff format --check .

echo "== unit tests and notebook hygiene"
python -m pytest tests "$@"

echo "== notebooks under nbval (smoke profile)"
python -m pytest --nbval-lax --sanitize-with .ci/nbval_sanitize.cfg -p no:cacheprovider notebooks
