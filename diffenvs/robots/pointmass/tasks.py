"""Point-mass tasks: reach a target and stop there (a smooth, fully differentiable reward)."""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from ...consts import const
from ...contract import Marker, RewardTerm, State, Task, TaskStep


@dataclass(frozen=True)
class ReachConfig:
    """Reach options.

    Attributes:
        target: the point to reach, m.
        spawn_half_extent: episodes start at rest uniformly in ``target ± this``, m.
        arena_half_extent: leaving ``|p| <= this`` (per axis) ends the episode, m.
        k_dist: weight of the squared distance.
        k_vel: weight of the squared speed.
        success_radius: a final distance below this counts as solved, m.
    """

    target: tuple[float, float] = (0.0, 0.0)
    spawn_half_extent: float = 2.0
    arena_half_extent: float = 5.0
    k_dist: float = 0.1
    k_vel: float = 0.01
    success_radius: float = 0.1


class ReachTask(Task):
    """Move to ``target`` and stay. Observation ``(target - p, v)`` (4); reward
    ``-k_dist |p - target|^2 - k_vel |v|^2``; leaving the arena terminates."""

    name = "reach"
    label = "Reach"
    robot = "pointmass"
    Config = ReachConfig
    default_episode_steps = 100
    reward_terms = (
        RewardTerm("distance", True, "-k_dist |p - target|^2"),
        RewardTerm("speed", True, "-k_vel |v|^2"),
    )
    metric_names = ("distance", "success")
    metric_units = {"distance": "m", "success": "%"}
    main_metric = ("distance", True)

    def __init__(self, options, **kw):
        super().__init__(options, **kw)
        self.target = self.tensor(self.cfg.target)

    @property
    def observation_space(self) -> gym.Space:
        return gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)

    def sample_initial(self, n: int, gen: torch.Generator) -> State:
        u = torch.rand(n, 2, generator=gen, dtype=self.dtype, device=self.device)
        pos = self.target + (2.0 * u - 1.0) * self.cfg.spawn_half_extent
        return {"pos": pos, "vel": torch.zeros_like(pos)}

    def observe(self, s: State):
        return torch.cat([self.target - s["pos"], s["vel"]], dim=-1)

    def evaluate(self, s: State, failed) -> TaskStep:
        d2 = (s["pos"] - self.target).square().sum(-1)
        terms = {"distance": const(-self.cfg.k_dist, d2) * d2,
                 "speed": const(-self.cfg.k_vel, d2) * s["vel"].square().sum(-1)}
        dist = d2.detach().sqrt()
        metrics = {"distance": dist, "success": dist < const(self.cfg.success_radius, dist)}
        return TaskStep(terms, {}, torch.zeros_like(failed), metrics)

    def failure(self, s: State):
        diverged = self.robot_model.diverged(s)
        out = (s["pos"].detach().abs() > const(self.cfg.arena_half_extent, s["pos"])).any(-1)
        return diverged, out

    def limits(self) -> str:
        return f"finite state, |position| <= arena_half_extent = {self.cfg.arena_half_extent:g} m per axis"

    def setpoint(self, obs):
        """For the PD controller: the position error ``target - p`` and velocity error ``0 - v``."""
        return obs[:, 0:2], -obs[:, 2:4]

    def markers(self):
        point = np.array([[*self.cfg.target, 0.0]])
        return (Marker("point", point, self.cfg.success_radius, "target"),)

