#!/usr/bin/env bash
# The browser test: every notebook of the runner's plan run through JupyterLab's own UI in headless
# Chromium (tests/browser), plus deliberately broken copies that must be reported.
#
# Run it after a pass that filled E2S_OUTPUT_DIR (scripts/test.sh runs it after nbval over the same
# folder, so every stage is read from cache). Needs Chromium (apt-get install chromium) and the
# test extra (Playwright; it never downloads a browser of its own).
#
#   bash scripts/browser_test.sh [--artifacts DIR] [--all-models] [pytest options]
#
# Screenshots go to --artifacts (default: beside E2S_OUTPUT_DIR, in browser/).
set -euo pipefail
cd "$(dirname "$0")/.."
while [[ $# -gt 0 ]]; do
  case "$1" in
    --artifacts) export E2S_BROWSER_ARTIFACTS="$2"; shift 2 ;;
    --all-models) export E2S_BROWSER_MODELS=all; shift ;;
    *) break ;;
  esac
done
: "${E2S_OUTPUT_DIR:?set E2S_OUTPUT_DIR to the output folder the notebooks run over}"
export E2S_BROWSER_TEST=1
export E2S_BROWSER_OUTPUT_DIR="$E2S_OUTPUT_DIR"
export E2S_BROWSER_FIGURES_DIR="${E2S_FIGURES_DIR:-}"
export E2S_BROWSER_PROFILE="${E2S_PROFILE:-smoke}"
start=$(date +%s)
python -m pytest tests/browser -p no:cacheprovider "$@"
echo "browser test finished in $(( $(date +%s) - start )) s"
