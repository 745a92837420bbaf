#!/usr/bin/env bash
# Throughput of the working tree against an earlier commit, measured in turns on the same
# machine (3 rounds of bench_env.py, or of $BENCH, each, alternating), then compared:
#   bash benchmarks/ab_bench.sh REV [OUT] [bench_env.py options]
#   BENCH=bench_depth.py bash benchmarks/ab_bench.sh REV [OUT] [bench_depth.py options]
# e.g. bash benchmarks/ab_bench.sh 64be071 benchmarks/results/refactor_multirobot --sizes 100 16384 --min-time 2
set -euo pipefail
cd "$(dirname "$0")/.."
REV="$1"; OUT="${2:-/tmp/ab_bench}"; shift $(( $# >= 2 ? 2 : 1 ))
PY="$(pwd)/.venv/bin/python"
BENCH="${BENCH:-bench_env.py}"
WT="$(mktemp -d)/before"
git worktree add -f "$WT" "$REV" > /dev/null
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"  # absolute: the "before" runs write from inside the worktree
for r in 1 2 3; do
  (cd "$WT" && PYTHONPATH="$WT" "$PY" "benchmarks/$BENCH" "$@" --json "$OUT/before_$r.json" > /dev/null)
  "$PY" "benchmarks/$BENCH" "$@" --json "$OUT/after_$r.json" > /dev/null
done
git worktree remove --force "$WT"
"$PY" benchmarks/compare_bench.py --a "$OUT"/before_*.json --b "$OUT"/after_*.json --labels "$REV" "working tree" \
  | tee "$OUT/comparison.md"
