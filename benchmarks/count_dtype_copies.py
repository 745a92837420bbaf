"""Dtype/device copies (``aten::_to_copy`` calls) in one env step, per registered env.

For each env id: ``N`` envs (default 8), a few warm-up steps, then one ``step_differentiable``
without gradients under the PyTorch profiler; prints the number of ``aten::_to_copy`` calls.
Run it in another checkout (e.g. a ``git worktree`` of an earlier commit, with ``PYTHONPATH``
pointing at it) to count the code before a change.

    python benchmarks/count_dtype_copies.py                      # every registered env
    python benchmarks/count_dtype_copies.py DiffQuad-Hover-v0 --num-envs 100
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import torch
from torch.profiler import ProfilerActivity, profile

import diffenvs  # noqa: F401  (registers the envs)


def count_copies(env_id: str, num_envs: int = 8) -> int:
    env = gym.make_vec(env_id, num_envs=num_envs)
    env.reset(seed=0)
    actions = torch.zeros(num_envs, env.action_dim, dtype=env.dtype)
    with torch.no_grad():
        for _ in range(3):
            env.step_differentiable(actions)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            env.step_differentiable(actions)
    return sum(1 for e in prof.events() if e.name == "aten::_to_copy")


def main(argv=None) -> dict[str, int]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env_ids", nargs="*", help="env ids (default: every registered Diff* id)")
    parser.add_argument("--num-envs", type=int, default=8)
    args = parser.parse_args(argv)
    ids = args.env_ids or [k for k in gym.registry if k.startswith("Diff")]
    out = {env_id: count_copies(env_id, args.num_envs) for env_id in ids}
    print("| env | `aten::_to_copy` per step |\n|---|---|")
    for env_id, n in out.items():
        print(f"| {env_id} | {n} |")
    return out


if __name__ == "__main__":
    main()
