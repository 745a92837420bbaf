#!/usr/bin/env bash
# Set up, then run the main job: the classical controller flies every task on CPU,
# prints each task's success metrics and writes animations to outputs/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python examples/fly_controller.py --out outputs "$@"
