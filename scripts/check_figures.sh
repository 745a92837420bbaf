#!/usr/bin/env bash
# Regenerate every committed figure and table of the Results page from the committed
# results (the commands on docs/results.md) into a temporary folder, and compare them
# byte for byte with the committed files. Exit status 1 if any differs.
#   bash scripts/check_figures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
OUT="$(mktemp -d)"
R=benchmarks/results
run() { "$PY" -m trainers figures "$@" > /dev/null; }
run $R/figure4/results.csv --out "$OUT" --figs 4
run $R/figure4/results.csv $R/figure7/results.csv --out "$OUT" --figs 7
run $R/figure4/results.csv $R/figure8/results.csv --out "$OUT" --figs 8
run $R/figure4/results.csv $R/figure7/results.csv $R/figure8/results.csv $R/racing_abpt/results.csv \
    --out "$OUT" --figs abpt-variants --envs DiffQuad-Racing-v0 DiffQuad-RacingVelocity-v0
run $R/figure9/results.csv --out "$OUT" --figs 9
run $R/nav/results.csv --out "$OUT" --figs runs
mkdir -p "$OUT/nav_tune"
run $R/nav_tune/results.csv $R/nav_tune_noise/results.csv --out "$OUT/nav_tune" --figs runs
mkdir -p "$OUT/nav_tune_fast2"
run $R/nav_tune_fast2/results.csv --out "$OUT/nav_tune_fast2" --figs runs
mkdir -p "$OUT/quadruped"
run $R/quadruped/results.csv --out "$OUT/quadruped" --figs runs
mkdir -p "$OUT/quadruped_nav"
run $R/quadruped_nav/results.csv --out "$OUT/quadruped_nav" --figs runs
run --out "$OUT" --fig5 $R/figure5/params_s*.csv --fig5-gradient $R/figure5/gradient_s*.csv
mkdir -p "$OUT/tracking_long"
run $R/tracking_long/results.csv --out "$OUT/tracking_long" --figs 4
mkdir -p "$OUT/figure4_paper" "$OUT/figure7_paper" "$OUT/figure8_paper" "$OUT/residual_quadrotor"
run $R/figure4_paper/results.csv --out "$OUT/figure4_paper" --figs 4
run $R/figure4_paper/results.csv $R/figure7_paper/results.csv --out "$OUT/figure7_paper" --figs 7
run $R/figure4_paper/results.csv $R/figure8_paper/results.csv --out "$OUT/figure8_paper" --figs 8
run $R/figure4_paper/results.csv $R/residual_quadrotor/results.csv --out "$OUT/residual_quadrotor" --figs anchor
for lr in 0.01 0.002; do
  mkdir -p "$OUT/critic_gradient_lr$lr"
  run --out "$OUT/critic_gradient_lr$lr" --critic-gradient $R/open_questions/critic_gradient_lr${lr}_s[0-9].csv
done
for claims in figure4_paper abpt_confounds racing_questions racing_confirm residual_quadrotor figure7_paper figure8_paper; do
  "$PY" -m trainers verdicts "benchmarks/claims/$claims.toml" --out "$OUT/verdicts_$claims.md" > /dev/null
done
status=0
for f in $(cd "$OUT" && find . -type f | sort); do
  committed="docs/_static/results/${f#./}"
  [[ $f == ./tracking_long/* ]] && committed="$R/tracking_long/${f#./tracking_long/}"
  if cmp -s "$OUT/$f" "$committed"; then echo "identical  $committed"; else echo "DIFFERENT  $committed"; status=1; fi
done
rm -rf "$OUT"
exit $status
