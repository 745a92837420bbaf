"""Hover: fly to a fixed point and stay there (fully differentiable reward)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..core.dynamics import POS
from .base import (
    POS_SCALE,
    SKELETON_TERMS,
    SkeletonWeights,
    Task,
    TaskConfig,
    TaskStep,
    norm,
    skeleton_terms,
    state_features,
    uniform,
)


@dataclass(frozen=True)
class HoverConfig(TaskConfig, SkeletonWeights):
    """Hover options.

    Attributes:
        target: hover point p̂, m (world).
        spawn_half_extent: episodes start uniformly in ``target ± spawn_half_extent``, m,
            at rest with identity attitude.
        success_radius: a final position error below this counts as solved, m.
    """

    target: tuple[float, float, float] = (1.0, 0.0, 1.5)
    spawn_half_extent: tuple[float, float, float] = (2.0, 2.0, 1.0)
    success_radius: float = 0.1


class HoverTask(Task):
    name = "hover"
    Config = HoverConfig
    default_episode_steps = 256
    obs_dim = 13
    task_state_names = ("pos_error_sum",)
    reward_terms = SKELETON_TERMS
    metric_names = ("pos_error", "mean_pos_error", "success")

    def __init__(self, options, **kw):
        super().__init__(options, **kw)
        self.target = self.tensor(self.cfg.target)
        self.half = self.tensor(self.cfg.spawn_half_extent)

    def sample_initial(self, n, gen):
        pos = uniform(gen, n, self.target - self.half, self.target + self.half)
        return self.hover_state(pos), pos.new_zeros(n, 1)

    def observe(self, x, task, step):
        return torch.cat([(self.target - x[:, POS]) * POS_SCALE, state_features(x)], dim=-1)

    def evaluate(self, x, task, step, failed):
        err = norm(x[:, POS] - self.target)
        err_sum = task[:, 0] + err.detach()
        metrics = {
            "pos_error": err.detach(),
            "mean_pos_error": err_sum / step,
            "success": err.detach() < self.cfg.success_radius,
        }
        terminated = torch.zeros_like(failed)
        return TaskStep(skeleton_terms(err, x, self.cfg), err_sum.unsqueeze(-1), terminated, metrics)

    def setpoint(self, obs: Tensor):
        pos_error = obs[:, 0:3] / POS_SCALE
        zeros = torch.zeros_like(pos_error)
        return pos_error, zeros, zeros, zeros


