"""A planar point mass pushed by a bounded force: the smallest robot behind the env contract."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ...consts import const
from ...contract import Robot, State, StateField


@dataclass(frozen=True)
class PointMassConfig:
    """Point-mass options (keyword arguments of the env, or ``robot_options``).

    Attributes:
        max_accel: acceleration at action ±1, m/s^2 (force / mass).
        damping: linear damping, 1/s: ``a = max_accel * action - damping * v``.
    """

    max_accel: float = 4.0
    damping: float = 0.5


class PointMass(Robot):
    """A point in the plane with a force command (semi-implicit Euler)::

        v' = v + dt (max_accel * a - damping * v)
        p' = p + dt v'

    with ``a`` the action in [-1, 1]^2. Differentiable in state and action.
    """

    name = "pointmass"
    Config = PointMassConfig
    state_fields = {
        "pos": StateField((2,), "float", "position, m, world frame (x, y)"),
        "vel": StateField((2,), "float", "velocity, m/s, world frame"),
    }
    action_dim = 2
    action_doc = "force along world x and y, normalised to [-1, 1] (±max_accel)"
    default_dt = 0.05
    drawer = "diffenvs.robots.pointmass.drawer:PointMassDrawer"
    controller = "diffenvs.robots.pointmass.controller:PDController"

    def step(self, state: State, action: Tensor) -> State:
        v = state["vel"]
        acc = const(self.cfg.max_accel, action) * action - const(self.cfg.damping, v) * v
        vel = v + const(self.dt, acc) * acc
        return {"pos": state["pos"] + const(self.dt, vel) * vel, "vel": vel}

    def position(self, state: State) -> Tensor:
        pos = state["pos"]
        return torch.cat([pos, torch.zeros_like(pos[:, :1])], dim=-1)
