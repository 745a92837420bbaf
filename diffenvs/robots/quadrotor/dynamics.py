"""The one quadrotor dynamics implementation in diffenvs.

The env state holds the drone's fields by name (see :class:`~diffenvs.robots.quadrotor.Quadrotor`);
the equations below also work on one flat tensor ``x`` of shape ``(N, 17)``::

    x[:, 0:3]    p      position, m, world frame
    x[:, 3:7]    q      attitude, unit quaternion (w, x, y, z), body -> world
    x[:, 7:10]   v      velocity, m/s, world frame
    x[:, 10:13]  omega  body rates, rad/s, body frame
    x[:, 13:17]  f      rotor thrusts, N (equal to the command without motor lag)

Equations (see docs/dynamics for the derivation and units)::

    p_dot     = v
    q_dot     = 1/2 q ⊗ (0, omega)
    v_dot     = g + 1/m R(q) (T e_z - D v_body),     v_body = R(q)^T v
    omega_dot = J^-1 (tau - omega × J omega)
    f_dot     = (f_cmd - f) / tau_motor              (only with motor lag)

with ``(T, tau) = M f`` from the X-frame mixer (:func:`diffenvs.robots.quadrotor.params.mixer_matrix`).
Integrators: explicit Euler and classic RK4 with the command held over the step; the
quaternion is renormalised after every step. Everything is differentiable and uses
no in-place writes.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ...consts import const
from ...rotations import quat_normalize, quat_rotate, quat_rotate_inverse
from .params import ParamTensors

STATE_DIM = 17
POS = slice(0, 3)
QUAT = slice(3, 7)
VEL = slice(7, 10)
OMEGA = slice(10, 13)
THRUST = slice(13, 17)

INTEGRATORS = ("euler", "rk4")


class QuadState(NamedTuple):
    """Named views into a flat ``(N, 17)`` quadrotor state."""

    pos: Tensor  # (N, 3) m, world frame
    quat: Tensor  # (N, 4) unit quaternion (w, x, y, z), body -> world
    vel: Tensor  # (N, 3) m/s, world frame
    omega: Tensor  # (N, 3) rad/s, body frame
    thrust: Tensor  # (N, 4) N, actual rotor thrusts

    @staticmethod
    def from_flat(x: Tensor) -> QuadState:
        return QuadState(x[..., POS], x[..., QUAT], x[..., VEL], x[..., OMEGA], x[..., THRUST])

    def flat(self) -> Tensor:
        return torch.cat(list(self), dim=-1)


def action_to_thrust(action: Tensor, P: ParamTensors) -> Tensor:
    """Map normalised actions in [-1, 1] to rotor thrust commands in [min_thrust, max_thrust] N."""
    return action * const(P.thrust_scale, action) + const(P.thrust_offset, action)


def thrust_to_action(thrust: Tensor, P: ParamTensors) -> Tensor:
    """Inverse of :func:`action_to_thrust`."""
    return (thrust - P.thrust_offset) / P.thrust_scale


def rates(q: Tensor, v: Tensor, w: Tensor, f: Tensor, P: ParamTensors) -> tuple[Tensor, Tensor, Tensor]:
    """The equations of motion: ``(q_dot, v_dot, omega_dot)`` for applied rotor thrusts ``f``."""
    # (N, 4): collective thrust T and body torque tau; a broadcast sum rather than a
    # matmul so that torch.compile can fuse it with the rest of the step.
    wrench = (f.unsqueeze(-1) * P.mixer_t).sum(1)
    v_body = quat_rotate_inverse(q, v)
    force_body = wrench[:, :1] * P.thrust_axis - P.drag * v_body  # (0, 0, T) - D v_body
    v_dot = quat_rotate(q, force_body) * const(P.inv_mass, q) + P.gravity
    w_dot = (wrench[:, 1:] - torch.linalg.cross(w, w * P.inertia, dim=-1)) * P.inv_inertia
    # q_dot = 1/2 q ⊗ (0, w)
    qw, qv = q[:, :1], q[:, 1:]
    q_dot = torch.cat([-(qv * w).sum(-1, keepdim=True), qw * w + torch.linalg.cross(qv, w, dim=-1)], dim=-1)
    q_dot = q_dot * const(0.5, q)
    return q_dot, v_dot, w_dot


def derivative(x: Tensor, f_cmd: Tensor, P: ParamTensors, motor_lag: bool) -> Tensor:
    """Time derivative ``dx/dt`` of the flat state under rotor thrust command ``f_cmd`` (N)."""
    f = x[:, THRUST] if motor_lag else f_cmd
    q_dot, v_dot, w_dot = rates(x[:, QUAT], x[:, VEL], x[:, OMEGA], f, P)
    f_dot = (f_cmd - f) * P.inv_motor_tau if motor_lag else torch.zeros_like(f_cmd)
    return torch.cat([x[:, VEL], q_dot, v_dot, w_dot, f_dot], dim=-1)


def integrate(
    x: Tensor, f_cmd: Tensor, P: ParamTensors, dt: float, integrator: str = "euler", motor_lag: bool = False
) -> Tensor:
    """Advance the flat state ``x`` by ``dt`` seconds with the command held constant.

    The quaternion is renormalised after the step. Without motor lag the thrust
    columns record the applied command.
    """
    if integrator == "euler":
        # x + dt * derivative(x), written per block to save concatenations.
        v, w = x[:, VEL], x[:, OMEGA]
        f = x[:, THRUST] if motor_lag else f_cmd
        q_dot, v_dot, w_dot = rates(x[:, QUAT], v, w, f, P)
        f_next = f + (f_cmd - f) * const(dt * P.inv_motor_tau, x) if motor_lag else f_cmd
        h = const(dt, x)
        return torch.cat([x[:, POS] + v * h, quat_normalize(x[:, QUAT] + q_dot * h), v + v_dot * h,
                          w + w_dot * h, f_next], dim=-1)
    if integrator == "rk4":
        k1 = derivative(x, f_cmd, P, motor_lag)
        k2 = derivative(x + (0.5 * dt) * k1, f_cmd, P, motor_lag)
        k3 = derivative(x + (0.5 * dt) * k2, f_cmd, P, motor_lag)
        k4 = derivative(x + dt * k3, f_cmd, P, motor_lag)
        x_next = x + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        f_next = x_next[:, THRUST] if motor_lag else f_cmd
        return torch.cat([x_next[:, :3], quat_normalize(x_next[:, QUAT]), x_next[:, 7:13], f_next], dim=-1)
    raise ValueError(f"unknown integrator {integrator!r}; choose one of {INTEGRATORS}")


def make_state(
    pos: Tensor, quat: Tensor | None = None, vel: Tensor | None = None, omega: Tensor | None = None,
    thrust: Tensor | None = None, *, hover_thrust: float | None = None,
) -> Tensor:
    """Build a flat state from parts; missing parts are identity / zero / hover thrust."""
    n, kw = pos.shape[0], dict(dtype=pos.dtype, device=pos.device)
    if quat is None:
        quat = torch.zeros(n, 4, **kw)
        quat[:, 0] = 1.0
    vel = torch.zeros(n, 3, **kw) if vel is None else vel
    omega = torch.zeros(n, 3, **kw) if omega is None else omega
    if thrust is None:
        thrust = torch.full((n, 4), 0.0 if hover_thrust is None else hover_thrust, **kw)
    return torch.cat([pos, quat, vel, omega, thrust], dim=-1)
