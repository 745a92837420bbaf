#!/usr/bin/env bash
# SHAC's training time on the navigation env, the working tree against an earlier commit, in turns on the
# same machine (2 rounds of nav_time_to_1e5.py each, alternating), then the per-seed training seconds side by side:
#   bash benchmarks/ab_nav_training.sh REV OUT [nav_time_to_1e5.py options]
# e.g. bash benchmarks/ab_nav_training.sh 426c360 benchmarks/results/nav_training_level_native \
#          --presets default --seeds 0 1 2 --steps 50000 --episodes 50
# (Not ab_bench.sh: that runs each side's own script with --json; nav_time_to_1e5.py at older commits has only --out
# and stops on an existing log folder, so each run here gets its own --log-root, and the comparison is per seed.)
set -euo pipefail
cd "$(dirname "$0")/.."
REV="$1"; OUT="$2"; shift 2
PY="$(pwd)/.venv/bin/python"
WT="$(mktemp -d)/before"
git worktree add -f "$WT" "$REV" > /dev/null
trap 'git worktree remove --force "$WT"' EXIT
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
for r in 1 2; do
  (cd "$WT/benchmarks" && PYTHONPATH="$WT" "$PY" nav_time_to_1e5.py "$@" --log-root "$(mktemp -d)" \
     --out "$OUT/before_$r" > /dev/null)
  (cd benchmarks && "$PY" nav_time_to_1e5.py "$@" --log-root "$(mktemp -d)" --out "$OUT/after_$r" > /dev/null)
done
"$PY" - "$OUT" "$REV" <<'PY' | tee "$OUT/comparison.md"
import json, statistics, sys
out, rev = sys.argv[1:]
runs = {side: [json.load(open(f"{out}/{side}_{r}.json"))["rows"] for r in (1, 2)] for side in ("before", "after")}
print(f"| preset | seed | {rev}: training s (2 rounds) | working tree: training s (2 rounds) | ratio of means |")
print("|---|---|---|---|---|")
ratios = []
for i, row in enumerate(runs["before"][0]):
    a = [rs[i]["wall_time"] for rs in runs["before"]]
    b = [rs[i]["wall_time"] for rs in runs["after"]]
    ratios.append(statistics.mean(a) / statistics.mean(b))
    print(f"| {row['preset']} | {row['seed']} | {' / '.join(map(str, a))} | {' / '.join(map(str, b))} "
          f"| {ratios[-1]:.2f}x faster |")
print(f"\nmedian speed-up {statistics.median(ratios):.2f}x")
PY
