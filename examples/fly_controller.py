"""The classical controllers fly every registered id on CPU.

For each environment id it flies one episode of ``--num-envs`` envs with the robot's
classical controller (:func:`diffenvs.registry.classical_controller`: the quadrotor's
cascaded controller, the point mass's PD law), prints the task's success metrics, and saves
an animation of a few envs to ``--out``.

    python examples/fly_controller.py --out outputs          # full run, about a minute
    python examples/fly_controller.py --tiny --out /tmp/x    # seconds (used by the tests)
"""

from __future__ import annotations

import argparse
import os
import time

import gymnasium as gym
import torch

import diffenvs
from diffenvs.registry import classical_controller
from diffenvs.render import record_episode

SUMMARY = {  # metric -> how to summarise it over finished episodes
    "success": "mean",
    "pos_error": "mean",
    "distance": "mean",
    "mean_pos_error": "mean",
    "xy_error": "mean",
    "gates_passed": "mean",
    "lap_time": "mean",
    "episode_return": "mean",
    "episode_length": "mean",
}


def fly(env_id: str, num_envs: int, max_steps: int | None, seed: int) -> dict[str, float]:
    """One episode per env; returns episode-end metrics averaged over envs."""
    venv = gym.make_vec(env_id, num_envs=num_envs)
    venv.reset(seed=seed)
    ctrl = classical_controller(venv)
    steps = venv.max_episode_steps if max_steps is None else max_steps
    finals: dict[str, torch.Tensor] = {}
    done = torch.zeros(num_envs, dtype=torch.bool)
    with torch.no_grad():
        for _ in range(steps):
            _, _, term, trunc, info = venv.step_differentiable(ctrl(venv.obs))
            new = (term | trunc) & ~done
            for k, v in info["final_info"].items():
                old = finals.get(k, torch.zeros(num_envs, dtype=v.dtype))
                finals[k] = torch.where(new, v, old)
            done |= new
    out = {"episodes": int(done.sum())}
    for k, v in finals.items():
        if k in SUMMARY and done.any():
            vals = v[done].double()
            if k == "lap_time":
                vals = vals[vals > 0]
            out[k] = float(vals.mean()) if len(vals) else float("nan")
    out["diverged"] = int(venv.num_diverged)
    return out


def main(argv=None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs", help="folder for the animations")
    parser.add_argument("--num-envs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiny", action="store_true", help="4 envs, 20 steps (smoke test)")
    args = parser.parse_args(argv)
    num_envs, max_steps = (4, 20) if args.tiny else (args.num_envs, None)
    os.makedirs(args.out, exist_ok=True)
    results = {}
    for env_id in diffenvs.ENV_IDS:
        t0 = time.perf_counter()
        results[env_id] = metrics = fly(env_id, num_envs, max_steps, args.seed)
        shown = ", ".join(f"{k}={v:.3g}" for k, v in metrics.items())
        print(f"{env_id:28s} {shown}  [{time.perf_counter() - t0:.1f} s]", flush=True)
        venv = gym.make_vec(env_id, num_envs=min(num_envs, 6), render_mode="rgb_array")
        venv.reset(seed=args.seed)
        path = os.path.join(args.out, f"{env_id}.gif")
        record_episode(venv, classical_controller(venv), path, max_steps=max_steps, every=3)
        print(f"{'':28s} animation: {path}", flush=True)
    return results


if __name__ == "__main__":
    main()
