#!/usr/bin/env bash
# Retrain the seeded ABPT Hover run of the Figure 4 sweep (seed 0, 1M env steps, paper preset,
# one torch thread as the sweep ran it; about 1.5 min per path on a 2-core CPU) and compare its
# progress.csv with a committed reference, every column but wall_time. Exit 1 if any differs.
#   bash scripts/check_abpt_hover.sh            # both paths below
#   bash scripts/check_abpt_hover.sh native     # or: ops
# Two paths, two references (benchmarks/results/reference/):
# * native: the default env, whose Hover step is one native call (native_hover.c), against
#   abpt_hover_s0_native.csv, recorded 2026-12-03 when this check was found to fail on the
#   default path: the native step (and before it the fused robot step) rounds differently from
#   the PyTorch ops, so the default run takes its own path (from the first evaluation, 1e-8
#   relative);
# * ops: the env with its PyTorch ops (env_kwargs native=False, fused=False), against
#   abpt_hover_s0.csv, recorded 2026-12-01 when ABPT's objective stopped evaluating values it
#   discards (rounding-level changes: the Figure 4 log
#   benchmarks/results/figure4/runs/base/abpt/DiffQuad-Hover-v0/s0/progress.csv, made before,
#   agrees with it to about 1e-7 relative in the first iterations and then drifts apart).
# The references are bit-exact for one CPU family only: float32 matrix products take the kernels
# the CPU supports, whose rounding differs. On 2026-12-03 a VM of the same class (AMD EPYC, 2 cores)
# without AVX-512 differed from both references from iteration 3 on (the critic loss, 2e-7 relative),
# with the code of the day before as with that day's; its own references are the *_avx2.csv files,
# recorded then with the same command, used where /proc/cpuinfo lists no avx512f.
set -euo pipefail
cd "$(dirname "$0")/.."
SUFFIX=""
if [ -r /proc/cpuinfo ] && ! grep -qw avx512f /proc/cpuinfo; then SUFFIX="_avx2"; fi
REF="${REF_DIR:-benchmarks/results/reference}"
PY="${PYTHON:-.venv/bin/python}"
status=0
check() {  # check NAME REFERENCE [trainer args...]
  local name=$1 ref=$2 out
  shift 2
  out="$(mktemp -d)"
  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "$PY" -m trainers abpt --env DiffQuad-Hover-v0 --seed 0 --preset paper \
    --steps 1000000 --eval-every 100000 --checkpoint-every 250000 --log-dir "$out" --no-progress --no-tensorboard \
    "$@" > /dev/null
  "$PY" - "$out/progress.csv" "$ref" "$name" <<'PYEOF' || status=1
import csv, sys
new, ref = (list(csv.DictReader(open(p))) for p in sys.argv[1:3])
# Compared as numbers (the older log predates integer columns: "9600.0" = "9600"); columns
# added since (e.g. skipped_updates) are not in the reference and not compared.
same = lambda a, b: a == b or (a not in ("", None) and b != "" and float(a) == float(b))
diffs = [(i, k) for i, (a, b) in enumerate(zip(new, ref)) for k in b if k != "wall_time" and not same(a.get(k), b[k])]
print(f"{sys.argv[3]}: {len(new)} rows vs {len(ref)} committed; cells that differ (all columns but wall_time): "
      f"{len(diffs)}")
sys.exit(1 if diffs or len(new) != len(ref) else 0)
PYEOF
  rm -rf "$out"
}
which="${1:-both}"
if [ "$which" = native ] || [ "$which" = both ]; then
  check native "$REF/abpt_hover_s0_native$SUFFIX.csv"
fi
if [ "$which" = ops ] || [ "$which" = both ]; then
  check ops "$REF/abpt_hover_s0$SUFFIX.csv" --set 'env_kwargs={"native": False, "fused": False}'
fi
exit $status
