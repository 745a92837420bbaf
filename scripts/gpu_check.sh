#!/usr/bin/env bash
# The GPU checks in one prepared run: the env contract tests on the device, the Hover throughput
# table up to N = 2^20 (eager, then compiled), and one ABPT training run on Hover. Each step has
# its own time limit, so the whole run takes under 9 minutes and one step that hangs or fails
# leaves the others to run. Everything goes to $OUT (default gpu_check_out/), at most 8 files:
#   device.txt         the GPU and torch that ran
#   contract.txt       the contract suite's output, a line per test (what ran before a time-out too)
#   bench_eager.json / bench_compiled.json, bench.txt   bench_env.py's rows and tables
#   abpt_hover.txt, abpt_hover_progress.csv             the training run's output and log
#
# On a machine with a GPU and PyTorch but no gymnasium and no network (the GPU machines lent to
# this project), fetch the missing pure-Python wheels on a machine with network first:
#   bash scripts/gpu_wheels.sh          # writes .whl/ (git-ignored)
# and bring .whl/ along; this script installs them into /tmp/site when the folder is there.
#
#   bash scripts/gpu_check.sh                         # DEVICE=cuda, the full sizes
#   DEVICE=cpu QUICK=1 bash scripts/gpu_check.sh      # the same steps in about a minute (tests/test_examples.py)
set -u -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_check_out}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
QUICK=${QUICK:-0}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

if [ "$QUICK" = 1 ]; then
  contract=(tests/contract/test_contract_api.py -k "Hover")
  # Compiled with aot_eager (traced, no code generation: inductor's first compile takes minutes on a CPU) and
  # rollout graphs of 2 steps, not 8 (tracing those was most of the step's time).
  sizes=(4) csizes=(4) bench=(--quick) compile=(--compile aot_eager --rollout-chunk 2) horizon=8 steps=2000
  limits=(120 120 120 120)
else
  contract=(tests/contract)
  # A 16-step horizon keeps the graph of fwd+bwd at N = 2^20 within the GPU's memory. Compiled (inductor), one
  # size: each size compiles anew, and a first compile (an empty inductor cache) took 4.7 minutes on a 2-core CPU.
  sizes=(1 100 16384 131072 1048576) csizes=(1048576) bench=(--min-time 0.3) compile=(--compile) horizon=16
  steps=400000 limits=(180 90 180 60)
fi

{
  date -u
  nvidia-smi 2>&1 || true
  "$PY" -c "import torch, gymnasium; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'gymnasium', \
gymnasium.__version__); print(torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA device')"
} > "$OUT/device.txt" 2>&1

step() {  # step NAME LIMIT COMMAND...: run it under its limit and say how it ended
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout "$limit" "$@"
  local rc=$?
  echo "== $name: exit $rc after $((SECONDS - t0)) s (limit $limit s)"
}

step contract "${limits[0]}" env DIFFENVS_TEST_DEVICE="$DEVICE" "$PY" -m pytest -v --tb=line -rfE \
  -p no:cacheprovider "${contract[@]}" > "$OUT/contract.txt" 2>&1
{
  step "bench eager" "${limits[1]}" "$PY" benchmarks/bench_env.py --device "$DEVICE" --sizes "${sizes[@]}" \
    --horizon "$horizon" "${bench[@]}" --json "$OUT/bench_eager.json"
  step "bench compiled" "${limits[2]}" "$PY" benchmarks/bench_env.py --device "$DEVICE" --sizes "${csizes[@]}" \
    --horizon "$horizon" "${bench[@]}" "${compile[@]}" --no-eager --json "$OUT/bench_compiled.json"
} > "$OUT/bench.txt" 2>&1
run_dir=$(mktemp -d)
step abpt "${limits[3]}" "$PY" -m trainers abpt --env DiffQuad-Hover-v0 --device "$DEVICE" --steps "$steps" \
  --log-dir "$run_dir" --overwrite --no-progress --no-tensorboard --json > "$OUT/abpt_hover.txt" 2>&1
cp "$run_dir/progress.csv" "$OUT/abpt_hover_progress.csv" 2>/dev/null
rm -rf "$run_dir"
grep -h "^== \|^=.* passed\|^=.* failed" "$OUT"/*.txt
