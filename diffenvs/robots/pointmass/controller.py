"""A PD controller for the point-mass tasks (baseline and ``"classical"`` residual anchor)."""

from __future__ import annotations

import torch
from torch import Tensor


class PDController:
    """``a = clip((kp e - kd v) / max_accel)`` from the observation ``(target - p, v)``.

    Batched, differentiable in the observation (the clip is smooth: ``tanh``).
    """

    def __init__(self, env, kp: float = 4.0, kd: float = 3.0):
        base = env.unwrapped
        self.kp, self.kd = kp, kd
        self.max_accel = base.robot.cfg.max_accel

    def __call__(self, obs: Tensor) -> Tensor:
        acc = self.kp * obs[:, 0:2] - self.kd * obs[:, 2:4]
        return torch.tanh(acc / self.max_accel)
