#!/usr/bin/env bash
# The remaining paper-budget experiments of the ABPT results page as queues, one per core,
# each running its sweeps one after the other with one worker and one torch thread. Every sweep
# resumes where it stopped (finished runs are skipped, checkpoints resume the others), so after an
# interruption the same command carries on. Finished runs land under benchmarks/results/<sweep>.
#
#   bash benchmarks/paper_queue.sh a        # Figure 4 at paper budgets: Landing, then Racing
#   bash benchmarks/paper_queue.sh b        # open questions, fresh seeds, confounds, residual, Fig. 7
#   bash benchmarks/paper_queue.sh c        # Fig. 8 (RacingVelocity, all four algorithms)
#   CODE=/path/to/checkout bash benchmarks/paper_queue.sh a   # train with another checkout's code
#
# CODE (default: this checkout) is the code the runs train with; the Figure 4 paper runs so far
# were made from a checkout of commit 4c4fdf2 (docs/results.md says why), results always go to
# this checkout's benchmarks/results. Queue c (Figure 8) compares the four algorithms on the
# velocity reward among themselves, so all its runs train with newer code: a checkout of commit
# 30ea377 (with the native RacingVelocity step, which trains faster; the same paper settings).
# CPU=n pins the queue to core n (taskset), so that the two
# queues, or a queue and a benchmark, do not share a core.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
CODE="${CODE:-$HERE}"
PY="${PYTHON:-$HERE/.venv/bin/python}"
PIN=()
if [ -n "${CPU:-}" ]; then PIN=(taskset -c "$CPU"); fi

sweep() {  # sweep NAME [OUT]: one sweep of benchmarks/sweeps/NAME.toml, resumable
  local name=$1 out=${2:-$1}
  (cd "$CODE" && PYTHONPATH="$CODE" OMP_NUM_THREADS=1 "${PIN[@]}" "$PY" -m trainers sweep \
    "benchmarks/sweeps/$name.toml" --out "$HERE/benchmarks/results/$out" --workers 1 --threads 1 --keep-checkpoints)
}

case "${1:-}" in
  a)
    sweep figure4_paper_b figure4_paper
    sweep figure4_paper_c figure4_paper
    ;;
  b)
    sweep racing_questions            # open questions (a) and (c), 3 seeds, 1M steps
    sweep racing_confirm              # the Racing settings chosen on seeds 0-2, on fresh seeds 5-9
    sweep abpt_confounds              # no_entropy at the base lr, base at Table 7's lr (Landing, Racing)
    PYTHONPATH="$CODE" PYTHON="$PY" OUT="$HERE/benchmarks/results/open_questions" "${PIN[@]}" \
      bash "$CODE/benchmarks/open_questions.sh"   # (b) and (d), what is left of them
    sweep residual_quadrotor          # the classical-controller anchor on the four tasks, 3 seeds
    sweep figure7_paper
    ;;
  c)
    sweep figure8_paper               # velocity-reward Racing, every algorithm (see the note above)
    ;;
  *)
    echo "usage: bash benchmarks/paper_queue.sh a|b|c   (CODE=checkout, CPU=core, PYTHON=interpreter)" >&2
    exit 2
    ;;
esac
