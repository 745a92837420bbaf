"""The quadrotor's native steps against its PyTorch ops, interleaved in one run.

Three settings of the Hover env, for each batch size N and each of ``--rounds`` rounds, one
after the other (the order rotating between rounds), with :mod:`bench_env`'s measures:

* ``native``: the default, the whole env step as one native call (``native_hover.c``);
* ``fused robot``: ``native=False``, the generic env step around the robot's fused Euler step;
* ``PyTorch ops``: ``fused=False``, every step in PyTorch operations.

Measures: ``bare fwd`` / ``bare fwd+bwd`` (the robot's step alone, the same in the first two
settings), ``step()`` (Gymnasium's numpy step), ``fwd`` (``step_differentiable`` without
gradients), ``fwd+bwd`` (a ``--horizon``-step unroll and its backward, per step) and ``rollout``.
The table gives the median env-steps/s of each setting and the ratio native / PyTorch ops, and
the backward cost (fwd+bwd rate / fwd rate) of each setting.

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


SETTINGS = {"native": {}, "fused robot": {"native": False}, "PyTorch ops": {"fused": False}}


def measure(n: int, env_id: str, min_time: float, horizon: int, setting: str) -> dict[str, float]:
    kwargs = SETTINGS[setting]
    bare = bench_bare(n, env_id, min_time, horizon, fused=kwargs.get("fused", True))
    out = {"bare fwd": bare[0], "bare fwd+bwd": bare[1]}
    out.update(bench_env(n, env_id, min_time, horizon, compile=False, **kwargs))
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
    names = list(SETTINGS)
    rows = []
    for n in args.sizes:
        runs = {k: [] for k in names}
        for r in range(args.rounds):
            order = names[r % 3:] + names[:r % 3]
            for setting in order:
                runs[setting].append(measure(n, args.env, args.min_time, args.horizon, setting))
        row = {"N": n}
        for key in MEASURES:
            med = {k: float(np.median([m[key] for m in runs[k]])) for k in names}
            row[key] = {**med, "ratio": med["native"] / med["PyTorch ops"]}
        row["backward cost"] = {k: row["fwd+bwd"][k] / row["fwd"][k] for k in names}
        rows.append(row)
        print({k: (v if k == "N" else round(v.get("ratio", v["native"]), 2)) for k, v in row.items()}, flush=True)
    header = "| N | " + " | ".join(f"{k}: native / fused robot / PyTorch ops (native ÷ PyTorch)"
                                   for k in MEASURES) + " |"
    lines = [f"env-steps/s, {args.env}, medians of {args.rounds} interleaved rounds, {machine()}", "", header,
             "|" + "---|" * (len(MEASURES) + 1)]
    for row in rows:
        cells = [f"{row[k]['native']:.3g} / {row[k]['fused robot']:.3g} / {row[k]['PyTorch ops']:.3g} "
                 f"({row[k]['ratio']:.2f}×)" for k in MEASURES]
        lines.append(f"| {row['N']} | " + " | ".join(cells) + " |")
    lines += ["", "backward cost, fwd+bwd rate / fwd rate:", "", "| N | " + " | ".join(names) + " |",
              "|" + "---|" * (len(names) + 1)]
    for row in rows:
        lines.append(f"| {row['N']} | " + " | ".join(f"{row['backward cost'][k]:.2f}" for k in names) + " |")
    table = "\n".join(lines)
    print(table)
    result = {"machine": machine(), "env": args.env, "horizon": args.horizon, "rounds": args.rounds, "rows": rows}
    save(args.json, result, table)
    return result


if __name__ == "__main__":
    main()
