"""A reactive depth-based controller for the navigation task (baseline and ``"classical"``
residual anchor)."""

from __future__ import annotations

import torch
from torch import Tensor


class DepthReactiveController:
    """Steer away from what the camera sees near the horizon, slow down when it is close.

    From the depth image (m) it takes, per image column, the nearest reading of the two
    rows around the horizon (the lower rows see the ground), and weighs each column by
    ``relu(1/d - 1/reach)`` (only obstacles within ``reach`` m count, nearer ones more).
    The heading-rate command turns away from the weighted side, with a constant bias to
    the left that breaks the tie when the obstacle is straight ahead; the speed command
    is the task's command, scaled down by the nearest reading in the central columns::

        ω = max_yaw_rate * tanh(k_turn * (Σ_j w_j u_j + bias * w_max))
        v = command * clip((d_front - stop) / (reach - stop), 0, 1)

    with ``u_j`` the column's lateral image coordinate (negative on the left). Batched
    and differentiable in the observation (where it is not clipped).
    """

    def __init__(self, env, reach: float = 3.0, stop: float = 0.6, k_turn: float = 2.0, bias: float = 0.3):
        base = env.unwrapped
        if not callable(getattr(base.task, "controller_inputs", None)):
            raise TypeError(f"the reactive controller needs task.controller_inputs(obs) -> (depth, speed command); "
                            f"task {base.task.name!r} does not define it")
        self.task = base.task
        self.reach, self.stop, self.k_turn, self.bias = reach, stop, k_turn, bias
        self.max_speed = base.robot.cfg.max_speed
        cam = self.task.camera.cfg
        self.lateral = (torch.arange(cam.width, dtype=torch.float64) + 0.5 - 0.5 * cam.width) / cam.focal
        self.rows = slice(max(0, cam.height // 2 - 1), cam.height // 2 + 1)

    def __call__(self, obs) -> Tensor:
        depth, command = self.task.controller_inputs(obs)
        near = depth[:, self.rows].amin(1)  # (N, W)
        weight = torch.relu(near.reciprocal() - 1.0 / self.reach)
        lateral = self.lateral.to(device=near.device, dtype=near.dtype)
        w = near.shape[1]
        front = near[:, w // 4: w - w // 4].amin(1)
        turn = torch.tanh(self.k_turn * ((weight * lateral).sum(1) + self.bias * weight.amax(1)))
        slow = ((front - self.stop) / (self.reach - self.stop)).clamp(0.0, 1.0)
        return torch.stack([(command * slow / self.max_speed).clamp(-1.0, 1.0), turn], -1)
