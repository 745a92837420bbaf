#!/usr/bin/env bash
# Set up, then run the linter and the default test suite (which also builds the docs
# with warnings as errors and runs every example in a tiny mode).
# Slow learning tests are excluded; run them with: .venv/bin/python -m pytest -m slow
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest -q "$@"
