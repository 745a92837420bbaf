"""Robustness of trained navigation policies to depth noise (residual paper §V-D).

Evaluates the final policy of every seed of one (variant, algorithm) of a navigation sweep
(``benchmarks/sweeps/nav.toml``, run with ``--keep-checkpoints``) with unbiased Gaussian
depth noise of each σ: one episode in each of ``--episodes`` envs (fixed evaluation
seed, the trainers' deterministic policy), reporting per σ the collision-free episode
rate, the success rate and the mean speed error (mean ± std over seeds, and the worst
seed). Writes a Markdown table and a JSON file.

    python benchmarks/nav_robustness.py benchmarks/results/nav --algo shac --variant base \\
        --out benchmarks/results/nav/robustness_shac
"""

from __future__ import annotations

import argparse
import json

import gymnasium as gym
import numpy as np
import torch
from report import sweep_checkpoints, write_report

import diffenvs  # noqa: F401  (registers the ids)
from trainers import load_policy
from trainers.core.checkpoint import load_checkpoint
from trainers.core.evaluate import evaluate


def evaluate_seed(checkpoint: str, sigma: float, episodes: int, seed: int) -> dict[str, float]:
    """One episode per env of the checkpoint's final policy, with depth noise σ (m)."""
    cfg = load_checkpoint(checkpoint)["config"]
    kwargs = dict(cfg.get("env_kwargs") or {})
    options = {**(kwargs.pop("task_options", None) or {}), "depth_noise": float(sigma)}
    env = gym.make_vec(cfg["env_id"], num_envs=episodes, task_options=options, **kwargs).unwrapped
    policy = load_policy(checkpoint, env)
    result = evaluate(policy, env, seed=seed)
    return {"collision_free": result["eval_metric"], "success": result["eval_success"],
            "speed_error": result.get("final_speed_error", float("nan"))}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="the sweep's output folder")
    parser.add_argument("--algo", default="shac")
    parser.add_argument("--variant", default="base")
    parser.add_argument("--env", default="DiffNav-PointMass-v0")
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.0, 0.1, 0.3, 0.5, 1.0])
    parser.add_argument("--episodes", type=int, default=256)
    parser.add_argument("--seed", type=int, default=20_000, help="evaluation seed (not a training seed)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None, help="path stem of the .md and .json outputs")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    checkpoints = sweep_checkpoints(args.results, args.variant, args.algo, args.env)
    per_sigma = {}
    for sigma in args.sigmas:
        per_sigma[sigma] = [evaluate_seed(c, sigma, args.episodes, args.seed) for c in checkpoints]
        print(json.dumps({"sigma": sigma, "seeds": per_sigma[sigma]}), flush=True)
    lines = [f"{args.algo} ({args.variant}), {len(checkpoints)} seeds, {args.episodes} episodes per seed and σ",
             "", "| depth noise σ (m) | collision-free (worst seed) | success (worst seed) | speed error, m/s |",
             "|---|---|---|---|"]
    for sigma, seeds in per_sigma.items():
        cells = []
        for key in ("collision_free", "success", "speed_error"):
            vals = np.array([s[key] for s in seeds])
            worst = vals.max() if key == "speed_error" else vals.min()
            cells.append(f"{vals.mean():.3f} ± {vals.std():.3f}" + ("" if key == "speed_error" else f" ({worst:.3f})"))
        lines.append(f"| {sigma:g} | " + " | ".join(cells) + " |")
    result = {"algo": args.algo, "variant": args.variant, "checkpoints": checkpoints, "episodes": args.episodes,
              "seed": args.seed, "results": {str(k): v for k, v in per_sigma.items()}}
    return write_report(args.out, "\n".join(lines), result, indent=2)


if __name__ == "__main__":
    main()
