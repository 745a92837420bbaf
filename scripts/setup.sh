#!/usr/bin/env bash
# Create .venv and install diffenvs with its test/docs/plot extras.
# torch is pinned here (a CPU build of 2.13.0 is available on our machines) BEFORE the
# package, so pip never resolves an unpinned torch (several GB of CUDA wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install -q "torch==${TORCH_VERSION:-2.13.0}" 2>&1 | grep -v "is ignored" || true
fi
.venv/bin/python -m pip install -q -e ".[test]" 2>&1 | grep -v "is ignored" || true
.venv/bin/python -c "import torch, gymnasium, diffenvs; print('diffenvs', diffenvs.__version__, '| torch', torch.__version__, '| gymnasium', gymnasium.__version__)"
