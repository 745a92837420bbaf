"""Hover: fly to a fixed point and stay there (fully differentiable reward)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ....consts import const
from ....contract import Marker, StateField
from .base import (
    POS_SCALE,
    SKELETON_TERMS,
    QuadrotorTask,
    SkeletonWeights,
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


class HoverTask(QuadrotorTask):
    name = "hover"
    label = "Hovering"
    Config = HoverConfig
    default_episode_steps = 256
    obs_dim = 13
    state_fields = {"pos_error_sum": StateField((), "float", "sum of the position errors in this episode, m")}
    reward_terms = SKELETON_TERMS
    metric_names = ("pos_error", "mean_pos_error", "success")
    metric_units = {"pos_error": "m", "mean_pos_error": "m", "success": "%"}
    main_metric = ("pos_error", True)

    def __init__(self, options, **kw):
        super().__init__(options, **kw)
        self.target = self.tensor(self.cfg.target)
        self.half = self.tensor(self.cfg.spawn_half_extent)

    def sample_initial(self, n, gen):
        pos = uniform(gen, n, self.target - self.half, self.target + self.half)
        return {**self.at_rest(pos), "pos_error_sum": pos.new_zeros(n)}

    def observe(self, s):
        return torch.cat([(self.target - s["pos"]) * const(POS_SCALE, s["pos"]), *state_features(s)], dim=-1)

    def evaluate(self, s, failed):
        err = norm(s["pos"] - self.target)
        e = err.detach()
        err_sum = s["pos_error_sum"] + e
        metrics = {
            "pos_error": e,
            "mean_pos_error": err_sum / s["step"],
            "success": e < const(self.cfg.success_radius, e),
        }
        terminated = torch.zeros_like(failed)
        return TaskStep(skeleton_terms(err, s, self.cfg), {"pos_error_sum": err_sum}, terminated, metrics)

    def native_transition(self, env):
        if type(self) is not HoverTask:  # a subclass may change what the kernel restates
            return None
        from .native_hover import make

        return make(env)

    def markers(self):
        return (Marker("point", self.target.detach().cpu().double().numpy().reshape(1, 3), 0.1, "target"),)

    def setpoint(self, obs: Tensor):
        pos_error = obs[:, 0:3] / POS_SCALE
        zeros = torch.zeros_like(pos_error)
        return pos_error, zeros, zeros, zeros


