#!/usr/bin/env bash
# Experiments (b) and (d) of the open questions on the ABPT results page (docs/results.md),
# three seeds, one process at a time with one torch thread; each output is skipped when it
# exists, so re-running resumes (at the granularity of one experiment run):
#   (b) the critic's action gradient against finite differences of Monte-Carlo returns over
#       200 ABPT iterations on Racing, with Table 5's settings (lr 0.01) and at lr 0.002;
#   (d) Figure 5 with a critic warmed up for 50 iterations before the actor's first step,
#       200 iterations, 0-step weights 0.5 (ABPT), 0 and 0.9; and the gradient-bias probe
#       of the same warmed-up run.
#   bash benchmarks/open_questions.sh          (OUT=folder to write elsewhere)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
OUT="${OUT:-benchmarks/results/open_questions}"
mkdir -p "$OUT"
run() {  # run OUT.csv ARGS...: one experiment unless its CSV exists (written under a temporary name first)
  local out=$1; shift
  [ -f "$out" ] && return 0
  "$PY" -m trainers.experiments "$@" --threads 1 --out "$out.part"
  mv "$out.part" "$out"
}
for s in 0 1 2; do
  run "$OUT/critic_gradient_lr0.01_s$s.csv" critic-gradient --env DiffQuad-Racing-v0 --seed "$s" --iterations 200
  run "$OUT/critic_gradient_lr0.002_s$s.csv" critic-gradient --env DiffQuad-Racing-v0 --seed "$s" --iterations 200 \
    --set lr=0.002
done
for s in 0 1 2; do
  run "$OUT/figure5_warm_s$s.csv" figure5 --seed "$s" --iterations 200 --set critic_warmup=50 --weights 0.5 0 0.9
  run "$OUT/gradient_warm_s$s.csv" gradient-bias --seed "$s" --iterations 200 --probe-every 10 --set critic_warmup=50
done
# (b) at a 5x smaller perturbation (seed 0): does the comparison depend on the finite-difference scale?
for lr in 0.01 0.002; do
  run "$OUT/critic_gradient_lr${lr}_eps0.01_s0.csv" critic-gradient --env DiffQuad-Racing-v0 --seed 0 --iterations 200 \
    --set lr=$lr --eps 0.01
done
