#!/usr/bin/env bash
# Retrain the seeded ABPT Hover run of the Figure 4 sweep (seed 0, 1M env steps, one torch
# thread as the sweep ran it; about 1.5 min on a 2-core CPU) and compare its progress.csv
# with the committed reference, every column but wall_time. Exit 1 if any differs.
#   bash scripts/check_abpt_hover.sh
# The reference is benchmarks/results/reference/abpt_hover_s0.csv, re-recorded (the same
# command, --log-dir into a scratch folder, its progress.csv copied there) when ABPT's
# objective stopped evaluating values it discards (rounding-level changes: the Figure 4 log
# benchmarks/results/figure4/runs/base/abpt/DiffQuad-Hover-v0/s0/progress.csv, made before,
# agrees with it to about 1e-7 relative in the first iterations and then drifts apart).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
REF=benchmarks/results/reference/abpt_hover_s0.csv
OUT="$(mktemp -d)"
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "$PY" -m trainers abpt --env DiffQuad-Hover-v0 --seed 0 --preset paper \
  --steps 1000000 --eval-every 100000 --checkpoint-every 250000 --log-dir "$OUT" --no-progress --no-tensorboard \
  > /dev/null
"$PY" - "$OUT/progress.csv" "$REF" <<'PYEOF'
import csv, sys
new, ref = (list(csv.DictReader(open(p))) for p in sys.argv[1:3])
# Compared as numbers (the committed log predates integer columns: "9600.0" = "9600"); columns
# added since (e.g. skipped_updates) are not in the reference and not compared.
same = lambda a, b: a == b or (a not in ("", None) and b != "" and float(a) == float(b))
diffs = [(i, k) for i, (a, b) in enumerate(zip(new, ref)) for k in b if k != "wall_time" and not same(a.get(k), b[k])]
print(f"{len(new)} rows vs {len(ref)} committed; cells that differ (all columns but wall_time): {len(diffs)}")
sys.exit(1 if diffs or len(new) != len(ref) else 0)
PYEOF
rm -rf "$OUT"
