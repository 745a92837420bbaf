"""Where an ABPT Hover policy holds the drone, and what its entropy does along the way.

    python benchmarks/hover_policy_probe.py CHECKPOINT [CHECKPOINT ...]

For each checkpoint of ``diffenvs-train abpt --env DiffQuad-Hover-v0`` it prints:

* κ (the entropy temperature) at the checkpoint (0 without entropy);
* where the policy settles: the mean offset from the target after 255 steps of 100 episodes,
  flown with the deterministic policy ``tanh(μ)`` (as the trainer evaluates) and with the
  stochastic one (as it trains; mean over the last 55 steps);
* along a vertical line through the target (the drone at rest, level, ``dz`` above the
  target): the policy's summed log standard deviation and its mean pre-tanh thrust command
  (hover thrust is about -0.62 for the default vehicle). A policy that holds the target has its
  hover command there; one whose command at the target is above hover climbs until it reaches
  hover thrust higher up.

Used on the Results page to find why ABPT's Hover error rises mid-training.
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import torch

import diffenvs  # noqa: F401  (registers the ids)
from trainers.abpt import ABPT
from trainers.core.checkpoint import load_checkpoint
from trainers.core.config import config_from_dict
from trainers.core.networks import Actor
from trainers.core.normalizer import RunningNorm

ENV_ID = "DiffQuad-Hover-v0"
EPISODES, STEPS, TAIL = 100, 255, 55
OFFSETS = (-0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)


def load(path: str) -> tuple[Actor, RunningNorm, float]:
    state = load_checkpoint(path)
    cfg = config_from_dict(ABPT.Config, state["config"])
    weights, stats = state["modules"]["actor"], state["modules"]["obs_norm"]
    actor = Actor(stats["mean"].shape[0], weights["mean.weight"].shape[0], ABPT.net_config(cfg))
    actor.load_state_dict(weights)
    norm = RunningNorm(stats["mean"].shape[0])
    norm.load_state_dict(stats)
    if not cfg.obs_norm:
        norm = torch.nn.Identity()
    kappa = float(state["modules"]["alpha"]["param"].exp()) if cfg.entropy else 0.0
    return actor.requires_grad_(False), norm.requires_grad_(False), kappa


def settle(actor: Actor, norm, stochastic: bool, seed: int = 7) -> torch.Tensor:
    """Mean offset ``(3,)`` from the target where the policy holds the drone."""
    env = gym.make_vec(ENV_ID, num_envs=EPISODES).unwrapped
    obs, _ = env.reset(seed=seed)
    torch.manual_seed(seed)
    offsets = []
    for t in range(STEPS):
        o = norm(torch.as_tensor(obs))
        action = actor(o)[0] if stochastic else actor.act(o)
        obs, *_ = env.step(action.numpy())
        if not stochastic and t == STEPS - 1 or stochastic and t >= STEPS - TAIL:
            offsets.append(env.get_state()["pos"] - env.task.target)
    env.close()
    return torch.stack(offsets).mean((0, 1))


def vertical_line(actor: Actor, norm) -> list[tuple[float, float, float]]:
    """``(dz, summed log std, mean pre-tanh command)`` at rest ``dz`` above the target."""
    env = gym.make_vec(ENV_ID, num_envs=1).unwrapped
    env.reset(seed=0)
    rows = []
    for dz in OFFSETS:
        s = {k: v.clone() for k, v in env.get_state().items()}
        s["pos"][:] = env.task.target + torch.tensor([0.0, 0.0, dz], dtype=s["pos"].dtype)
        s["vel"][:], s["omega"][:] = 0.0, 0.0
        s["quat"][:] = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=s["quat"].dtype)
        env.set_state(s)
        mu, log_std = actor.distribution(norm(env.task.observe(env.get_state())))
        rows.append((dz, float(log_std.sum()), float(mu.mean())))
    env.close()
    return rows


def _offset(v: torch.Tensor) -> str:
    return "(" + ", ".join(f"{x:+.3f}" for x in v.tolist()) + f") m, |.| {float(v.norm()):.3f} m"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+")
    args = parser.parse_args(argv)
    for path in args.checkpoints:
        actor, norm, kappa = load(path)
        det, sto = settle(actor, norm, False), settle(actor, norm, True)
        print(f"{path}\n  kappa {kappa:.4f}\n  settles, deterministic: {_offset(det)}\n"
              f"  settles, stochastic:    {_offset(sto)}")
        print("  dz (m) | sum log std | mean pre-tanh command")
        for dz, ls, mu in vertical_line(actor, norm):
            print(f"  {dz:+.2f}   | {ls:+.2f}       | {mu:+.3f}")


if __name__ == "__main__":
    main()
