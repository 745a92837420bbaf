"""Microseconds per Gymnasium ``step()`` call: the native tasks' own step into kept buffers
(``numpy_step``, the default) against the generic ``step()`` through the same native kernel
(``step_differentiable`` without a graph, new tensors every call, then numpy copies).

Both envs are built alike and seeded alike and are timed interleaved, round by round, in one
process; the table gives the median over rounds (and each round's own speed-up, smallest to
largest). Envs without a native Gymnasium step are skipped.

    python benchmarks/bench_step_call.py --json benchmarks/results/bench_step_call_cpu.json
    python benchmarks/bench_step_call.py --quick          # seconds, for smoke tests
"""

from __future__ import annotations

import argparse
import statistics

import gymnasium as gym
import numpy as np
from timing import machine, rate, save

import diffenvs  # noqa: F401  (registers the ids)

ENV_IDS = ["DiffQuad-Hover-v0", "DiffQuad-Tracking-v0", "DiffQuad-Landing-v0", "DiffQuad-Racing-v0",
           "DiffQuad-RacingVelocity-v0"]


def _pair(env_id: str, n: int):
    """The env with its kept-buffer step and the same env stepping the generic way (or ``None``)."""
    envs = [gym.make_vec(env_id, num_envs=n) for _ in range(2)]
    if getattr(envs[0], "_numpy_step", None) is None:
        return None
    envs[1]._numpy_step = None  # the generic step() through the same kernel
    for env in envs:
        env.reset(seed=0)
    actions = np.zeros((n, envs[0].action_dim), np.float32)
    return [lambda env=env: env.step(actions) for env in envs]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=ENV_IDS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds per timed run")
    parser.add_argument("--json", default=None)
    parser.add_argument("--quick", action="store_true", help="one env, tiny sizes and times (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.envs, args.sizes, args.rounds, args.min_time = args.envs[:1], [4], 2, 0.02
    pairs = {(e, n): p for e in args.envs for n in args.sizes if (p := _pair(e, n)) is not None}
    us = {key: ([], []) for key in pairs}  # microseconds per call: kept buffers, generic
    for _ in range(args.rounds):
        for key, fns in pairs.items():
            for times, fn in zip(us[key], fns):
                times.append(1e6 / rate(fn, 1, args.min_time))
    lines = ["| env | N | step() µs per call | generic step() µs per call | speed-up (rounds' min–max) |",
             "|---|---|---|---|---|"]
    rows = []
    for (env_id, n), (kept, generic) in us.items():
        ups = [g / k for k, g in zip(kept, generic)]
        row = {"env": env_id, "N": n, "step_us": statistics.median(kept), "generic_us": statistics.median(generic),
               "speedup": statistics.median(ups), "per_round": {"step_us": kept, "generic_us": generic}}
        rows.append(row)
        lines.append(f"| {env_id} | {n} | {row['step_us']:.1f} | {row['generic_us']:.1f} | {row['speedup']:.1f}× "
                     f"({min(ups):.1f}–{max(ups):.1f}) |")
    table = "\n".join(lines)
    print(f"Gymnasium step() per call, median of {args.rounds} interleaved rounds; {machine()}")
    print(table)
    out = {"machine": machine(), "rounds": args.rounds, "rows": rows}
    save(args.json, out, table)
    return out


if __name__ == "__main__":
    main()
