#!/usr/bin/env bash
# The test command: lint, types, unit tests with a coverage floor, notebook hygiene, and beside them
# every notebook under nbval in the smoke profile, then every notebook run through JupyterLab in
# headless Chromium over the same output folder (so every stage comes from cache). Artifacts go to
# a scratch folder, never into the repository; E2S_ARTIFACTS_DIR keeps the browser test's
# screenshots. Exits non-zero on any failure, including pytest's "no tests collected" (exit 5).
#
#   bash scripts/test.sh [pytest options for the unit tests]
#
# Slow unit tests (marked `slow`) run when E2S_RUN_SLOW=1 (CI sets it). Without Chromium the
# browser test is skipped with a notice; E2S_REQUIRE_BROWSER=1 (CI) makes a missing Chromium a
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export E2S_PROFILE=smoke HF_HUB_OFFLINE=1 MPLBACKEND=Agg
export E2S_OUTPUT_DIR="$scratch/outputs" E2S_FIGURES_DIR="$scratch/figures"
# explorers draw static images under nbval (the rule of e2s_utils.explore.widget_mode)
export E2S_WIDGETS=static
unset E2S_DATA_DIR E2S_WEIGHTS_DIR
t0=$(date +%s)
step() { echo "== $1 ($(( $(date +%s) - t0 )) s so far)"; }

step "ruff (package, tests, benchmarks, notebooks)"
ruff check .
ruff format --check .

step "mypy (the package)"
mypy e2s_utils

# The unit tests run beside the notebooks (nbval, then the browser test over nbval's outputs): the
# two halves share nothing on disk, and together they keep both cores busy. The notebook half runs
# torch on one thread, so its small operations do not fight the test workers for the cores;
# E2S_TEST_SERIAL=1 runs the halves one after the other.
notebooks() {
  step "notebooks under nbval (smoke profile)"
  OMP_NUM_THREADS=1 python -m pytest --nbval-lax --sanitize-with .ci/nbval_sanitize.cfg \
    -p no:cacheprovider notebooks
  step "notebooks in JupyterLab, headless Chromium (same outputs, from cache)"
  if command -v "${E2S_CHROMIUM:-chromium}" >/dev/null 2>&1; then
    OMP_NUM_THREADS=1 bash scripts/browser_test.sh --artifacts "${E2S_ARTIFACTS_DIR:-$scratch/browser}"
  elif [[ "${E2S_REQUIRE_BROWSER:-0}" == 1 ]]; then
    echo "no Chromium found and E2S_REQUIRE_BROWSER=1: install it (apt-get install chromium)" >&2
    return 1
  else
    echo "SKIPPED: no Chromium found (apt-get install chromium, or set E2S_CHROMIUM)"
  fi
}

units() {
  step "unit tests and notebook hygiene, with coverage of the package"
  python -m pytest tests -n "${E2S_TEST_WORKERS:-2}" --cov=e2s_utils \
    --cov-report=term:skip-covered --cov-fail-under="${E2S_COVERAGE_FLOOR:-90}" "$@"
}

if [[ "${E2S_TEST_SERIAL:-0}" == 1 ]]; then
  units "$@"
  notebooks
else
  notebooks_log="$scratch/notebooks.log"
  (notebooks) >"$notebooks_log" 2>&1 &
  notebooks_pid=$!
  units_rc=0
  units "$@" || units_rc=$?
  notebooks_rc=0
  wait "$notebooks_pid" || notebooks_rc=$?
  echo "---- notebook half (ran beside the unit tests) ----"
  cat "$notebooks_log"
  if (( units_rc != 0 || notebooks_rc != 0 )); then
    echo "FAILED: unit tests exit $units_rc, notebooks exit $notebooks_rc" >&2
    exit 1
  fi
fi
step "done"
