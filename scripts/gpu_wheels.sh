#!/usr/bin/env bash
# Fetch the pure-Python wheels that scripts/gpu_check.sh needs on a GPU machine which has PyTorch
# but no gymnasium and no network: gymnasium (the version of this checkout's .venv) and its one
# missing dependency, into .whl/ (added to .git/info/exclude, so it is never committed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
version=$("$PY" -c "import gymnasium; print(gymnasium.__version__)")
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "gymnasium==$version" farama-notifications
ls .whl
