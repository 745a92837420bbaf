"""A classical cascaded controller that flies every task from its observation.

Outer loop (position): a PD law with velocity reference and feed-forward gives the
desired acceleration ``a = kp e_p + kv (v_ref - v) + a_ff``, smoothly limited in the
horizontal plane; the desired force is ``F = m (a + g e_z)``.
Inner loop (attitude, geometric control on SO(3)): the desired body z axis is
``F/|F|`` with zero yaw; the attitude error ``e_R = 1/2 vee(R_d^T R - R^T R_d)`` and rate
error ``e_ω = ω`` give the torque ``τ = J(-k_R e_R - k_ω e_ω) + ω × J ω``. The
collective thrust ``T = F · z_body`` and ``τ`` go through the inverse X mixer to four
rotor thrusts and then to normalised actions.

The controller is batched, pure PyTorch and differentiable in the observation, so it
serves as a baseline and as the frozen anchor of residual learning.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ...rotations import quat_to_rotmat
from .dynamics import thrust_to_action
from .params import ParamTensors, QuadrotorParams
from .tasks.base import RATE_SCALE, VEL_SCALE, QuadrotorTask


@dataclass(frozen=True)
class ControllerGains:
    """Gains of :class:`CascadedController` (SI units).

    Attributes:
        kp: position gain, 1/s^2.
        kv: velocity gain, 1/s.
        max_horizontal_acc: smooth limit of the commanded horizontal acceleration, m/s^2.
        min_vertical_acc: lower limit of ``a_z + g`` so the thrust never reverses, m/s^2.
        k_att: attitude gains (roll, pitch, yaw), 1/s^2.
        k_rate: body-rate damping gains (roll, pitch, yaw), 1/s.
    """

    kp: float = 6.0
    kv: float = 4.5
    max_horizontal_acc: float = 20.0
    min_vertical_acc: float = 2.0
    k_att: tuple[float, float, float] = (300.0, 300.0, 60.0)
    k_rate: tuple[float, float, float] = (30.0, 30.0, 12.0)


class CascadedController:
    """Observation -> action controller for a diffenvs quadrotor task.

    Args:
        env: a quadrotor vector env (the task, vehicle, dtype and device are taken from
            it), or pass ``task`` and ``params`` explicitly.
        gains: :class:`ControllerGains`.
    """

    def __init__(self, env=None, *, task: QuadrotorTask | None = None, params: QuadrotorParams | None = None,
                 gains: ControllerGains | None = None, dtype=None, device=None):
        if env is not None:
            task, params = env.unwrapped.task, env.unwrapped.robot.vehicle
            dtype, device = env.unwrapped.dtype, env.unwrapped.device
        if task is None or params is None:
            raise ValueError("pass an env, or both task and params")
        self.task = task
        self.gains = gains or ControllerGains()
        self.P = ParamTensors(params, dtype=dtype or torch.float32, device=device or "cpu")
        kw = dict(dtype=self.P.mass.dtype, device=self.P.mass.device)
        self.k_att = torch.tensor(self.gains.k_att, **kw)
        self.k_rate = torch.tensor(self.gains.k_rate, **kw)
        self.e_z = torch.tensor([0.0, 0.0, 1.0], **kw)
        self.e_x = torch.tensor([1.0, 0.0, 0.0], **kw)

    def __call__(self, obs: Tensor) -> Tensor:
        """Actions ``(N, 4)`` in [-1, 1] (approximately; the env clips) for observations ``(N, obs_dim)``."""
        pos_error, vel_ref, acc_ff, jerk_ff = self.task.setpoint(obs)
        quat = obs[:, -10:-6]
        vel = obs[:, -6:-3] / VEL_SCALE
        omega = obs[:, -3:] / RATE_SCALE
        return self.compute(pos_error, vel_ref, acc_ff, jerk_ff, quat, vel, omega)

    def compute(self, pos_error: Tensor, vel_ref: Tensor, acc_ff: Tensor, jerk_ff: Tensor, quat: Tensor,
                vel: Tensor, omega: Tensor) -> Tensor:
        g = self.gains
        acc = g.kp * pos_error + g.kv * (vel_ref - vel) + acc_ff
        # Smooth limit on the horizontal acceleration (keeps the tilt moderate).
        a_xy = acc[:, :2]
        mag = torch.linalg.vector_norm(a_xy, dim=-1, keepdim=True)
        scale = g.max_horizontal_acc * torch.tanh(mag / g.max_horizontal_acc) / (mag + 1e-9)
        a_z = (acc[:, 2:] + self.P.params.gravity).clamp_min(g.min_vertical_acc)
        force = self.P.mass * torch.cat([a_xy * scale, a_z], dim=-1)  # desired force, world

        R = quat_to_rotmat(quat)
        z_body = R[:, :, 2]
        thrust = (force * z_body).sum(-1, keepdim=True)

        b3 = force / torch.linalg.vector_norm(force, dim=-1, keepdim=True)  # desired body z
        b2 = torch.linalg.cross(b3, self.e_x.expand_as(b3), dim=-1)
        b2 = b2 / torch.linalg.vector_norm(b2, dim=-1, keepdim=True)
        b1 = torch.linalg.cross(b2, b3, dim=-1)
        R_d = torch.stack([b1, b2, b3], dim=-1)
        E = R_d.transpose(1, 2) @ R - R.transpose(1, 2) @ R_d
        e_R = 0.5 * torch.stack([E[:, 2, 1], E[:, 0, 2], E[:, 1, 0]], dim=-1)
        # Desired rates from the feed-forward jerk: d(b3)/dt = (I - b3 b3^T) dF/dt / |F|,
        # omega_d = b3 x d(b3)/dt (world frame, no yaw rate), expressed in the body frame.
        f_norm = torch.linalg.vector_norm(force, dim=-1, keepdim=True)
        f_dot = self.P.mass * jerk_ff
        b3_dot = (f_dot - b3 * (b3 * f_dot).sum(-1, keepdim=True)) / f_norm
        omega_d = (R.transpose(1, 2) @ torch.linalg.cross(b3, b3_dot, dim=-1).unsqueeze(-1)).squeeze(-1)
        J = self.P.inertia
        gyro = torch.linalg.cross(omega, J * omega, dim=-1)
        torque = J * (-self.k_att * e_R - self.k_rate * (omega - omega_d)) + gyro
        rotor = torch.cat([thrust, torque], dim=-1) @ self.P.mixer_inv_t
        return thrust_to_action(rotor, self.P)
