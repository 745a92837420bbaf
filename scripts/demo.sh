#!/usr/bin/env bash
# Set up, then run the main job: train ABPT on the default task (Hover) on CPU, print
# the success metric before/after, write outputs/learning_curve.png and an animation.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python examples/train_abpt.py --out outputs "$@"
