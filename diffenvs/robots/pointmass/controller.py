"""A PD controller for the point-mass tasks (baseline and ``"classical"`` residual anchor)."""

from __future__ import annotations

import torch
from torch import Tensor


class PDController:
    """``a = tanh((kp e_p + kd e_v) / max_accel)``, with the position and velocity errors
    ``(e_p, e_v)`` read from the observation by the task's ``setpoint(obs)`` (each ``(N, 2)``,
    world frame), so that any point-mass task that defines it can be flown.

    Batched, differentiable in the observation (the limit is smooth: ``tanh``).
    """

    def __init__(self, env, kp: float = 4.0, kd: float = 3.0):
        base = env.unwrapped
        if not callable(getattr(base.task, "setpoint", None)):
            raise TypeError(f"the point-mass PD controller needs task.setpoint(obs) -> (position error, velocity "
                            f"error); task {base.task.name!r} does not define it")
        self.task = base.task
        self.kp, self.kd = kp, kd
        self.max_accel = base.robot.cfg.max_accel

    def __call__(self, obs: Tensor) -> Tensor:
        pos_error, vel_error = self.task.setpoint(obs)
        return torch.tanh((self.kp * pos_error + self.kd * vel_error) / self.max_accel)
