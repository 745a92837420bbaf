"""The quadrotor's fused native Euler step against its PyTorch ops, interleaved in one run.

For each batch size N and each of ``--rounds`` rounds, both settings of the robot option
``fused`` are measured one after the other (the order alternating between rounds) with
:mod:`bench_env`'s measures: ``bare fwd`` / ``bare fwd+bwd`` (the robot's step alone),
``step()`` (Gymnasium's numpy step), ``fwd`` (``step_differentiable`` without gradients),
``fwd+bwd`` (a ``--horizon``-step unroll and its backward) and ``rollout``. The table gives the
median env-steps/s of each and the ratio fused / PyTorch ops.

    python benchmarks/bench_fused.py --json benchmarks/results/bench_fused_cpu.json
    python benchmarks/bench_fused.py --quick          # seconds, for smoke tests
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from bench_env import bench_bare, bench_env
from timing import machine, save

from diffenvs.robots.quadrotor import fused

MEASURES = ("bare fwd", "bare fwd+bwd", "step()", "fwd", "fwd+bwd", "rollout", "rollout fwd+bwd")


def measure(n: int, env_id: str, min_time: float, horizon: int, fused_step: bool) -> dict[str, float]:
    bare_f, bare_fb = bench_bare(n, env_id, min_time, horizon, fused=fused_step)
    out = {"bare fwd": bare_f, "bare fwd+bwd": bare_fb}
    out.update(bench_env(n, env_id, min_time, horizon, compile=False, fused=fused_step))
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="DiffQuad-Hover-v0")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 1024, 16384])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--horizon", type=int, default=96)
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per timed run")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--json", default=None, help="write results here (and the table beside it as .md)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and times (smoke test)")
    args = parser.parse_args(argv)
    if not fused.available():
        raise SystemExit(f"the fused kernel is not available: {fused.native.status(fused.SOURCE)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.sizes, args.min_time, args.horizon, args.rounds = [4], 0.02, 8, 1
    rows = []
    for n in args.sizes:
        runs = {True: [], False: []}
        for r in range(args.rounds):
            for fused_step in ((True, False) if r % 2 == 0 else (False, True)):
                runs[fused_step].append(measure(n, args.env, args.min_time, args.horizon, fused_step))
        row = {"N": n}
        for key in MEASURES:
            fast = float(np.median([m[key] for m in runs[True]]))
            slow = float(np.median([m[key] for m in runs[False]]))
            row[key] = {"fused": fast, "pytorch": slow, "ratio": fast / slow}
        rows.append(row)
        print({k: (v if k == "N" else round(v["ratio"], 2)) for k, v in row.items()}, flush=True)
    header = "| N | " + " | ".join(f"{k}: fused / PyTorch ops (ratio)" for k in MEASURES) + " |"
    lines = [f"env-steps/s, {args.env}, medians of {args.rounds} interleaved rounds, {machine()}", "", header,
             "|" + "---|" * (len(MEASURES) + 1)]
    for row in rows:
        cells = [f"{row[k]['fused']:.3g} / {row[k]['pytorch']:.3g} ({row[k]['ratio']:.2f}×)" for k in MEASURES]
        lines.append(f"| {row['N']} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    result = {"machine": machine(), "env": args.env, "horizon": args.horizon, "rounds": args.rounds, "rows": rows}
    save(args.json, result, table)
    return result


if __name__ == "__main__":
    main()
