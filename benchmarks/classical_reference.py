"""The classical controller as a reference row of the results tables.

Every robot's classical controller (``diffenvs.registry.classical_controller``: the
quadrotor's cascaded position controller, the navigation robot's reactive depth
controller, the quadruped's open-loop trot reference) evaluated exactly as the trainers
evaluate a run of seed ``s`` (one episode in each of ``--episodes`` envs, evaluation seed
``s + 10000``, the id's default env options; the trainers' presets can add options, e.g.
the navigation recipe's depth noise, which ``--noise-from-preset`` applies), for each
seed. Writes a Markdown table (mean ± std over seeds) and a JSON file::

    python benchmarks/classical_reference.py --out benchmarks/results/classical_reference
"""

from __future__ import annotations

import argparse
import json

import gymnasium as gym
import numpy as np
import torch
from report import write_report

import diffenvs
from diffenvs.registry import classical_controller
from trainers.core.evaluate import evaluate
from trainers.presets import preset


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=None, help="env ids (default: every id whose robot has a "
                        "classical controller)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (eval seed + 10000)")
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--preset-options", action="store_true",
                        help="use the env options of the id's default SHAC preset (e.g. training depth noise)")
    parser.add_argument("--max-episode-steps", type=int, default=None, help="shorter episodes (tests)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None, help="path stem of the .md and .json outputs")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    ids = args.envs or [i for i in diffenvs.env_specs()
                        if gym.make_vec(i, num_envs=1).unwrapped.robot.controller is not None]
    rows, names = {}, {}
    for env_id in ids:
        kwargs = dict(preset("shac", env_id, "default").get("env_kwargs", {})) if args.preset_options else {}
        if args.max_episode_steps:
            kwargs["max_episode_steps"] = args.max_episode_steps
        env = gym.make_vec(env_id, num_envs=args.episodes, **kwargs).unwrapped
        controller = classical_controller(env)
        names[env_id] = (str(env.robot.controller).rpartition(":")[2].rpartition(".")[2], env.task.main_metric[0])
        with torch.no_grad():
            rows[env_id] = [evaluate(controller, env, seed=s + 10_000) for s in args.seeds]
        print(json.dumps({"env": env_id, "eval": rows[env_id]}), flush=True)
    lines = [f"The classical controller: {args.episodes} evaluation episodes per seed, seeds {args.seeds} (mean ± std "
             f"over seeds)", "", "| env | controller | evaluation return | success | main metric | episode length |",
             "|---|---|---|---|---|---|"]
    for env_id, evals in rows.items():
        name, metric = names[env_id]
        cells = []
        for key in ("eval_return", "eval_success", "eval_metric", "eval_length"):
            vals = np.array([e[key] for e in evals], dtype=float)
            cells.append("–" if np.isnan(vals).all() else f"{vals.mean():.3g} ± {vals.std():.2g}")
        lines.append(f"| {env_id} (main metric: {metric}) | `{name}` | " + " | ".join(cells) + " |")
    result = {"seeds": args.seeds, "episodes": args.episodes, "preset_options": args.preset_options, "eval": rows}
    return write_report(args.out, "\n".join(lines), result)


if __name__ == "__main__":
    main()
