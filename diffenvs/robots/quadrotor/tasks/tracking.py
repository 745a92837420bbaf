"""Tracking: follow a point moving on a horizontal circle (fully differentiable reward)."""

from __future__ import annotations

import math
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
class TrackingConfig(TaskConfig, SkeletonWeights):
    """Tracking options.

    Attributes:
        center: centre of the reference circle, m (world).
        radius: circle radius, m.
        angular_speed: angular speed of the reference point, rad/s (counter-clockwise
            seen from above); the reference starts at ``center + (radius, 0, 0)``.
        num_points: number of future reference points in the observation (at least 5).
        point_spacing: time between observed reference points, s.
        spawn_half_extent: episodes start uniformly within this box around the
            reference's start point, at rest, m.
        success_radius: a tracking error below this (at the end of an episode) counts as solved, m.
    """

    center: tuple[float, float, float] = (3.0, 0.0, 2.0)
    radius: float = 1.5
    angular_speed: float = math.pi
    num_points: int = 10
    point_spacing: float = 0.1
    spawn_half_extent: tuple[float, float, float] = (0.5, 0.5, 0.5)
    success_radius: float = 0.3


class TrackingTask(QuadrotorTask):
    name = "tracking"
    label = "Tracking"
    Config = TrackingConfig
    default_episode_steps = 256
    state_fields = {"pos_error_sum": StateField((), "float", "sum of the tracking errors in this episode, m")}
    reward_terms = SKELETON_TERMS
    metric_names = ("pos_error", "mean_pos_error", "success")
    metric_units = {"pos_error": "m", "mean_pos_error": "m", "success": "%"}
    main_metric = ("pos_error", True)

    def __init__(self, options, **kw):
        super().__init__(options, **kw)
        c = self.cfg
        if c.num_points < 5:
            raise ValueError(f"tracking needs num_points >= 5, got {c.num_points}")
        self.obs_dim = 3 * c.num_points + 10
        self.center = self.tensor(c.center)
        start = self.center + self.tensor([c.radius, 0.0, 0.0])
        self.half = self.tensor(c.spawn_half_extent)
        self.spawn_low, self.spawn_high = start - self.half, start + self.half
        # Observed points lie dt + k * spacing ahead of the current time: the first is
        # the reference the reward compares against after the next step.
        self.offsets = self.tensor([self.dt + k * c.point_spacing for k in range(c.num_points)])

    def reference(self, t: Tensor) -> Tensor:
        """Reference positions at times ``t`` (any shape, s) -> ``t.shape + (3,)``."""
        phase = const(self.cfg.angular_speed, t) * t
        r = const(self.cfg.radius, t)
        return self.center + torch.stack([r * torch.cos(phase), r * torch.sin(phase), torch.zeros_like(phase)], -1)

    def reference_velocity(self, t: Tensor) -> Tensor:
        phase = self.cfg.angular_speed * t
        s = self.cfg.radius * self.cfg.angular_speed
        return torch.stack([-s * torch.sin(phase), s * torch.cos(phase), torch.zeros_like(phase)], -1)

    def sample_initial(self, n, gen):
        pos = uniform(gen, n, self.spawn_low, self.spawn_high)
        return {**self.at_rest(pos), "pos_error_sum": pos.new_zeros(n)}

    def observe(self, s):
        t = s["step"].to(self.dtype).unsqueeze(-1) * const(self.dt, self.offsets) + self.offsets  # (N, K)
        rel = (self.reference(t) - s["pos"].unsqueeze(1)) * const(POS_SCALE, s["pos"])  # (N, K, 3)
        return torch.cat([rel.flatten(1), *state_features(s)], dim=-1)

    def evaluate(self, s, failed):
        step = s["step"]
        err = norm(s["pos"] - self.reference(step.to(self.dtype) * const(self.dt, s["pos"])))
        e = err.detach()
        err_sum = s["pos_error_sum"] + e
        metrics = {"pos_error": e, "mean_pos_error": err_sum / step, "success": e < const(self.cfg.success_radius, e)}
        return TaskStep(skeleton_terms(err, s, self.cfg), {"pos_error_sum": err_sum}, torch.zeros_like(failed),
                        metrics)

    def native_transition(self, env):
        if type(self) is not TrackingTask:  # a subclass may change what the kernel restates
            return None
        from .native_hover import make

        return make(env)

    def markers(self):
        period = 2.0 * math.pi / max(abs(self.cfg.angular_speed), 1e-6)
        t = torch.linspace(0.0, period, 200, dtype=self.dtype, device=self.device)
        return (Marker("path", self.reference(t).detach().cpu().double().numpy(), 0.0, "reference"),)

    def marker_state(self, s):
        return {"reference": self.reference(s["step"].to(self.dtype) * self.dt)}

    def setpoint(self, obs: Tensor):
        h = self.cfg.point_spacing
        # Reference points relative to the drone; differences cancel the drone's own
        # position. One-sided second-order differences give the reference velocity,
        # acceleration and jerk at the first point (the one the reward compares against).
        p = [obs[:, 3 * k:3 * k + 3] / POS_SCALE for k in range(5)]
        vel_ref = (-3.0 * p[0] + 4.0 * p[1] - p[2]) / (2.0 * h)
        acc_ff = (2.0 * p[0] - 5.0 * p[1] + 4.0 * p[2] - p[3]) / h**2
        jerk_ff = (-5.0 * p[0] + 18.0 * p[1] - 24.0 * p[2] + 14.0 * p[3] - 3.0 * p[4]) / (2.0 * h**3)
        return p[0], vel_ref, acc_ff, jerk_ff
