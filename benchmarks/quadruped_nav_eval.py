"""The final policies of the perceptive quadruped sweep, and reference policies, on
``DiffQuadruped-Nav-v0``: collision-free rate, falls, speed tracking, distance, turning.

Every policy runs one episode in each of ``--episodes`` envs per training seed ``s``
(evaluation seed ``s + 10000``, deterministic policy, as the trainers evaluate), and is
also run **blindfolded**: the depth image it observes is replaced by the image of the
same camera in an empty world (ground only) at the start pose, while the obstacles stay
where they are. A policy that walks around obstacles by looking at them collides more
blindfolded; one that does not use the image is unaffected.

Rows: each learned run of the sweep (``--runs ALGO/VARIANT ...``; final checkpoints, run
the sweep with ``--keep-checkpoints``), and the references standing still (zero actions),
the open-loop trot reference and the frozen trot anchor alone.

Per episode it records the accumulated turning (sum of the absolute heading changes,
rad), the net heading change and the sideways offset of the end point from the start
heading's line (m). Writes a Markdown table and a JSON file::

    python benchmarks/quadruped_nav_eval.py benchmarks/results/quadruped_nav \\
        --out benchmarks/results/quadruped_nav/final_policies
"""

from __future__ import annotations

import argparse
import json
import math

import gymnasium as gym
import numpy as np
import torch
from quadruped_references import policies
from report import add_run_options, apply_run_options, sweep_checkpoints, write_report

import diffenvs  # noqa: F401  (registers the ids)
from trainers.core.loop import algorithm_class, make_train_env

ENV = "DiffQuadruped-Nav-v0"
ANCHOR = "quadruped-trot"
METRICS = ("episode_return", "success", "collision_free", "upright", "velocity_error", "distance", "episode_length")


def yaw(state) -> torch.Tensor:
    w, x, y, z = state["base_quat"].unbind(-1)
    return torch.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


@torch.no_grad()
def run_episodes(policy, env, seed: int) -> dict[str, np.ndarray]:
    """One episode per env: the episode-end metrics and the turning of every episode.

    The state of the step before an episode's last is the one its path ends with (the
    env resets a finished row in the same step)."""
    base = env.unwrapped if hasattr(env, "unwrapped") else env
    env.reset(seed=seed)
    n, steps = env.num_envs, base.max_episode_steps
    s = base.get_state()
    start_xy, start_yaw = s["base_pos"][:, :2].clone(), yaw(s)
    last_yaw, last_xy = start_yaw.clone(), start_xy.clone()
    turning = torch.zeros(n, dtype=torch.float64)
    net = torch.zeros(n, dtype=torch.float64)
    done = torch.zeros(n, dtype=torch.bool)
    finals: dict[str, torch.Tensor] = {}
    for _ in range(steps):
        _, _, term, trunc, info = env.step_differentiable(policy(env.obs))
        new = (term | trunc) & ~done
        s = base.get_state()
        now_yaw, now_xy = yaw(s), s["base_pos"][:, :2]
        delta = torch.remainder(now_yaw - last_yaw + math.pi, 2 * math.pi) - math.pi
        live = ~done & ~new  # rows whose state is still their episode's
        turning += torch.where(live, delta.abs().double(), 0.0)
        net += torch.where(live, delta.double(), 0.0)
        last_xy = torch.where(live[:, None], now_xy, last_xy)
        last_yaw = torch.where(live, now_yaw, last_yaw)
        for k, v in info["final_info"].items():
            finals[k] = torch.where(new, v, finals.get(k, torch.zeros_like(v)))
        done |= new
        if bool(done.all()):
            break
    rel = last_xy - start_xy
    side = (-torch.sin(start_yaw) * rel[:, 0] + torch.cos(start_yaw) * rel[:, 1]).abs()
    out = {k: finals[k].double().numpy() for k in METRICS if k in finals}
    out.update(turning=turning.numpy(), net_turn=net.abs().numpy(), sideways=side.double().numpy())
    return {k: v[done.numpy()] for k, v in out.items()}


def empty_world_depth(env, seed: int) -> torch.Tensor:
    """The depth observation of the same camera in a world without obstacles, at a start pose."""
    options = {**env.unwrapped.task.cfg.__dict__}
    empty = {k: (0, 0) for k in ("cylinders", "spheres", "boxes") if k in options}
    probe = gym.make_vec(ENV, num_envs=1, task_options=empty).unwrapped
    obs, _ = probe.reset(seed=seed)
    return torch.as_tensor(obs["depth"][0])


def blindfolded(policy, image: torch.Tensor):
    def act(obs):
        return policy({**obs, "depth": image.to(obs["depth"]).expand_as(obs["depth"])})
    return act


def summarise(episodes: list[dict[str, np.ndarray]]) -> dict[str, list[float]]:
    """Per metric: the mean over each seed's episodes."""
    return {k: [float(e[k].mean()) for e in episodes] for k in episodes[0]}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="the sweep's output folder (benchmarks/results/quadruped_nav)")
    parser.add_argument("--runs", nargs="*", default=["shac/rpl", "ppo/base", "ppo/rpl"], help="ALGO/VARIANT")
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="training seeds (default: every seed "
                        "with a checkpoint; the references use 0 1 2)")
    parser.add_argument("--no-references", action="store_true")
    add_run_options(parser)
    args = parser.parse_args(argv)
    kwargs = apply_run_options(args)
    rows: dict[str, dict] = {}

    def record(name, make_policy_env, seeds, blind=True):
        seen, dark = [], []
        for seed in seeds:
            policy, env = make_policy_env(seed)
            seen.append(run_episodes(policy, env, seed + 10_000))
            if blind:  # (the references do not look at the image)
                dark.append(run_episodes(blindfolded(policy, empty_world_depth(env, seed)), env, seed + 10_000))
        rows[name] = {"seeds": list(seeds), "seeing": summarise(seen), "blindfolded": summarise(dark) if blind else {}}
        print(json.dumps({"policy": name, **rows[name]}), flush=True)

    for run in args.runs:
        algo, variant = run.split("/")
        checkpoints = sweep_checkpoints(args.results, variant, algo, ENV)
        seeds = [int(c.split("/s")[-1].split("/")[0]) for c in checkpoints]
        by_seed = dict(zip(seeds, checkpoints))
        wanted = args.seeds or seeds

        def learned(seed, algo=algo, by_seed=by_seed):
            trainer = algorithm_class(algo).from_checkpoint(by_seed[seed], progress=False, tensorboard=False)
            trainer.cfg.env_kwargs = {**trainer.cfg.env_kwargs, **kwargs}
            return trainer.policy, make_train_env(trainer.cfg, num_envs=args.episodes)

        record(f"{algo} {variant}", learned, wanted)

    if not args.no_references:
        def reference(kind):
            def make(seed):
                env = gym.make_vec(ENV, num_envs=args.episodes, **kwargs).unwrapped
                return policies(env, ANCHOR)[kind], env
            return make

        for kind, name in (("stand", "stand"), ("trot_reference", "trot reference"), ("anchor", "anchor alone")):
            record(name, reference(kind), args.seeds or [0, 1, 2], blind=False)

    head = ["policy", "return", "success", "collision-free", "no fall", "speed error, m/s", "distance, m",
            "turning, rad", "sideways, m", "collision-free blindfolded", "distance blindfolded, m"]
    lines = [f"Policies on {ENV}: {args.episodes} evaluation episodes per seed (mean ± std over seeds; turning: "
             f"sum of absolute heading changes per episode; sideways: end point's offset from the start heading's "
             f"line; blindfolded: the depth image of an empty world; the references do not look)", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(values, pct=False):
        v = np.array(values) * (100 if pct else 1)
        return f"{v.mean():.0f} ± {v.std():.0f} %" if pct else f"{v.mean():.3g} ± {v.std():.2g}"

    for name, row in rows.items():
        s, b = row["seeing"], row["blindfolded"]
        lines.append(f"| {name} | {cell(s['episode_return'])} | {cell(s['success'], True)} | "
                     f"{cell(s['collision_free'], True)} | {cell(s['upright'], True)} | {cell(s['velocity_error'])} | "
                     f"{cell(s['distance'])} | {cell(s['turning'])} | {cell(s['sideways'])} | "
                     + (f"{cell(b['collision_free'], True)} | {cell(b['distance'])} |" if b else "- | - |"))
    result = {"env": ENV, "episodes": args.episodes, "rows": rows}
    return write_report(args.out, "\n".join(lines), result)


if __name__ == "__main__":
    main()
