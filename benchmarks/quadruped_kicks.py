"""Robustness of trained quadruped walking policies to kicks (residual paper §V-D, Fig. 7).

For every seed's final checkpoint of the chosen (variant, algorithm) runs of a quadruped
sweep (``benchmarks/sweeps/quadruped.toml``, run with ``--keep-checkpoints``), ``--envs``
robots walk with the trainers' deterministic policy (residual runs with their frozen
anchor) for 2 s; then, every ``--period`` seconds, each robot's base is kicked: its linear
velocity is *set* to a random horizontal velocity of the given magnitude in a uniformly
random direction (the angular velocity and the joints are left as they are). A kick is
survived when the robot does not fall (the task's termination: base below 0.3 m or tilted
by more than 1 rad) before the next kick. ``--kicks`` kicks per robot; a robot that falls
restarts from a standing start (the env's auto-reset) and takes the next kick as the
others. The default 64 robots x 8 kicks is the paper's 512 kicks per policy.

Reports each policy's undisturbed evaluation (return, velocity error, upright rate, episode
length) and per kick speed the survival rate (mean ± std over seeds, and the worst seed);
writes Markdown tables and a JSON file::

    python benchmarks/quadruped_kicks.py benchmarks/results/quadruped --algo shac --variant shac_rpl \\
        --out benchmarks/results/quadruped/kicks_shac_rpl
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import torch
from report import sweep_checkpoints, write_report

import diffenvs  # noqa: F401  (registers the ids)
from trainers.core.checkpoint import load_checkpoint
from trainers.core.evaluate import evaluate
from trainers.core.loop import algorithm_class, make_train_env


def survival(policy, env, speeds: list[float], kicks: int, period: float, seed: int) -> dict[str, float]:
    """Survival rate of ``num_envs * kicks`` kicks of each speed (m/s) for ``policy(obs) -> action``
    in the batched ``env`` (a diffenvs vector env or a wrapper of one, e.g. the residual env)."""
    base = env.unwrapped
    n, every = base.num_envs, round(period / base.dt)
    out = {}
    for speed in speeds:
        env.reset(seed=seed)
        gen = torch.Generator(device=base.device).manual_seed(seed)
        survived = torch.zeros(n, dtype=torch.long, device=base.device)
        with torch.no_grad():
            for k in range(kicks + 1):
                fell = torch.zeros(n, dtype=torch.bool, device=base.device)
                for _ in range(every):
                    _, _, term, _, _ = env.step_differentiable(policy(env.obs))
                    fell |= term
                if k > 0:  # the window after kick k (the first window is the 2 s walk-in)
                    survived += (~fell).long()
                if k == kicks:
                    break
                s = dict(env.get_state())
                angle = 2 * math.pi * torch.rand(n, generator=gen, device=base.device, dtype=base.dtype)
                vel = s["base_lin_vel"].clone()
                vel[:, 0], vel[:, 1], vel[:, 2] = speed * torch.cos(angle), speed * torch.sin(angle), 0.0
                s["base_lin_vel"] = vel
                env.set_state(s)
        out[f"{speed:g}"] = float(survived.sum()) / (n * kicks)
    return out


def kick_survival(checkpoint: str, speeds: list[float], envs: int, kicks: int, period: float, seed: int,
                  ) -> tuple[dict[str, float], dict[str, float]]:
    """``(evaluation, survival)`` of a run's final policy (residual runs with their anchor):
    the trainers' evaluation (one undisturbed episode per env, seed ``seed``) and :func:`survival`."""
    state = load_checkpoint(checkpoint)
    trainer = algorithm_class(state["algo"]).from_checkpoint(checkpoint, progress=False, tensorboard=False)
    env = make_train_env(trainer.cfg, num_envs=envs)
    with torch.no_grad():
        result = evaluate(trainer.policy, env, seed=seed)
    keys = ("eval_return", "eval_metric", "final_upright", "eval_length")
    return {k: result[k] for k in keys}, survival(trainer.policy, env, speeds, kicks, period, seed)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="the sweep's output folder")
    parser.add_argument("--algo", default="shac")
    parser.add_argument("--variant", default="shac_rpl")
    parser.add_argument("--env", default="DiffQuadruped-Walk-v0")
    parser.add_argument("--speeds", type=float, nargs="+", default=[0.5, 1.0, 1.5, 2.0],
                        help="kick speeds, m/s (the base's horizontal velocity is set to this)")
    parser.add_argument("--envs", type=int, default=64)
    parser.add_argument("--kicks", type=int, default=8, help="kicks per robot")
    parser.add_argument("--period", type=float, default=2.0, help="seconds between kicks")
    parser.add_argument("--seed", type=int, default=30_000, help="evaluation seed (not a training seed)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None, help="path stem of the .md and .json outputs")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    checkpoints = sweep_checkpoints(args.results, args.variant, args.algo, args.env)
    per_seed, evals = [], []
    for c in checkpoints:
        ev, surv = kick_survival(c, args.speeds, args.envs, args.kicks, args.period, args.seed)
        per_seed.append(surv)
        evals.append(ev)
        print(json.dumps({"checkpoint": c, "evaluation": ev, "survival": surv}), flush=True)
    n = args.envs * args.kicks
    lines = [f"{args.algo} ({args.variant}) on {args.env}, {len(checkpoints)} seeds (mean ± std over seeds, worst "
             f"seed in brackets)", "",
             f"Undisturbed: one episode in each of {args.envs} envs (evaluation seed {args.seed}):", "",
             "| return | velocity error, m/s | upright at the end | episode length |", "|---|---|---|---|"]
    cells = []
    for key, worst in (("eval_return", min), ("eval_metric", max), ("final_upright", min), ("eval_length", min)):
        vals = np.array([e[key] for e in evals])
        cells.append(f"{vals.mean():.3g} ± {vals.std():.2g} ({worst(vals):.3g})")
    lines += ["| " + " | ".join(cells) + " |", "",
              f"Kicks: {n} per seed and speed (a kick every {args.period:g} s):", "",
              "| kick speed (m/s) | survival (mean ± std over seeds) | worst seed |", "|---|---|---|"]
    for speed in args.speeds:
        vals = np.array([s[f"{speed:g}"] for s in per_seed])
        lines.append(f"| {speed:g} | {vals.mean():.3f} ± {vals.std():.3f} | {vals.min():.3f} |")
    result = {"algo": args.algo, "variant": args.variant, "env": args.env, "checkpoints": checkpoints,
              "envs": args.envs, "kicks": args.kicks, "period": args.period, "seed": args.seed, "per_seed": per_seed,
              "evaluation": evals}
    return write_report(args.out, "\n".join(lines), result)


if __name__ == "__main__":
    main()
