"""Reference rows for the quadruped results: policies that are not learned on the walk task.

Evaluates on ``DiffQuadruped-Walk-v0``, exactly as the trainers evaluate a run of seed ``s``
(one episode in each of ``--episodes`` envs, evaluation seed ``s + 10000``, deterministic
policy), for each training seed of the sweep:

* ``stand``: zero actions (PD targets at the nominal standing pose);
* ``trot_reference``: the classical controller, the trot reference played open loop;
* ``anchor``: the frozen trot anchor alone (``--anchor``), the policy every RPL run starts
  from (its residual starts near zero).

Then the kick robustness (``benchmarks/quadruped_kicks.py``'s protocol) of the anchor alone.
Writes a Markdown table and a JSON file::

    python benchmarks/quadruped_references.py --out benchmarks/results/quadruped/references
"""

from __future__ import annotations

import argparse
import json

import gymnasium as gym
import numpy as np
import torch
from quadruped_kicks import survival
from report import add_run_options, apply_run_options, write_report

import diffenvs  # noqa: F401  (registers the ids)
from diffenvs.registry import classical_controller
from trainers import load_policy
from trainers.core.evaluate import evaluate

ANCHOR = "quadruped-trot"  # the named anchor shipped in trainers/anchors


def policies(env, anchor: str) -> dict:
    """Zero actions, the open-loop trot reference and the anchor alone (any observation, Dict included)."""
    return {"stand": lambda obs: torch.zeros(env.num_envs, env.action_dim, dtype=env.dtype, device=env.device),
            "trot_reference": classical_controller(env), "anchor": load_policy(anchor, env)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="DiffQuadruped-Walk-v0")
    parser.add_argument("--anchor", default=ANCHOR)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (eval seed + 10000)")
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--kick-speeds", type=float, nargs="*", default=[0.5, 1.0, 1.5, 2.0])
    parser.add_argument("--kick-envs", type=int, default=64)
    parser.add_argument("--kicks", type=int, default=8)
    parser.add_argument("--kick-period", type=float, default=2.0)
    parser.add_argument("--kick-seed", type=int, default=30_000)
    add_run_options(parser)
    args = parser.parse_args(argv)
    kwargs = apply_run_options(args)
    env = gym.make_vec(args.env, num_envs=args.episodes, **kwargs).unwrapped
    rows = {}
    for name, policy in policies(env, args.anchor).items():
        with torch.no_grad():
            rows[name] = [evaluate(policy, env, seed=s + 10_000) for s in args.seeds]
        print(json.dumps({"policy": name, "eval": rows[name]}), flush=True)
    kicks = {}
    if args.kick_speeds:
        kenv = gym.make_vec(args.env, num_envs=args.kick_envs, **kwargs).unwrapped
        kicks = survival(load_policy(args.anchor, kenv), kenv, args.kick_speeds, args.kicks,
                                         args.kick_period, args.kick_seed)
        print(json.dumps({"policy": "anchor", "kick_survival": kicks}), flush=True)
    lines = [f"Reference policies on {args.env}: {args.episodes} evaluation episodes per seed, seeds {args.seeds} "
             f"(mean ± std over seeds)", "",
             "| policy | evaluation return | velocity error, m/s | upright at the end | episode length |",
             "|---|---|---|---|---|"]
    for name, evals in rows.items():
        cells = []
        for key in ("eval_return", "eval_metric", "final_upright", "eval_length"):
            vals = np.array([e[key] for e in evals])
            cells.append(f"{vals.mean():.3g} ± {vals.std():.2g}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if kicks:
        lines += ["", f"Kick survival of the anchor alone ({args.kick_envs * args.kicks} kicks per speed, one every "
                  f"{args.kick_period:g} s): " + ", ".join(f"{k} m/s: {v:.3f}" for k, v in kicks.items())]
    result = {"env": args.env, "anchor": args.anchor, "seeds": args.seeds, "episodes": args.episodes,
              "eval": rows, "anchor_kick_survival": kicks}
    return write_report(args.out, "\n".join(lines), result)


if __name__ == "__main__":
    main()
