"""Differentiate the return of a batched rollout with respect to every action.

    python examples/rollout_gradient.py [--tiny]
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import torch

import diffenvs  # noqa: F401  (registers the ids)


def main(argv=None) -> torch.Tensor:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    n, horizon = (4, 10) if args.tiny else (100, 96)
    venv = gym.make_vec("DiffQuad-Hover-v0", num_envs=n)
    venv.reset(seed=0)
    actions = torch.zeros(horizon, n, 4, requires_grad=True)  # one leaf for the whole unroll
    ret = 0.0
    for t, a in enumerate(actions.unbind(0)):  # unbind, not actions[t]: cheap backward
        obs, reward, terminated, truncated, info = venv.step_differentiable(a)
        ret = ret + 0.99**t * reward
    ret.mean().backward()
    print(f"discounted return {ret.mean().item():.3f}; |d return / d actions| = {actions.grad.norm():.4f}")
    print(f"gradient of the first action of drone 0: {actions.grad[0, 0].tolist()}")
    venv.detach()  # cut the graph before the next unroll
    return actions.grad


if __name__ == "__main__":
    main()
