"""A planar unicycle behind a first-order velocity controller (residual paper §IV)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ...consts import const
from ...contract import Robot, State, StateField


@dataclass(frozen=True)
class UnicycleConfig:
    """Unicycle options (keyword arguments of the env, or ``robot_options``).

    Attributes:
        max_speed: forward/backward speed commanded by action ±1, m/s.
        max_yaw_rate: heading rate commanded by action ±1, rad/s.
        speed_time_constant: time constant τ_v of the low-level speed loop, s.
        yaw_rate_time_constant: time constant τ_ω of the low-level heading-rate loop, s.
        radius: radius of the robot's round body, m (collisions, drawing).
    """

    max_speed: float = 2.0
    max_yaw_rate: float = 2.0
    speed_time_constant: float = 0.2
    yaw_rate_time_constant: float = 0.1
    radius: float = 0.2

    def __post_init__(self):
        for name in ("max_speed", "max_yaw_rate", "speed_time_constant", "yaw_rate_time_constant", "radius"):
            if not getattr(self, name) > 0:
                raise ValueError(f"unicycle option {name} must be > 0, got {getattr(self, name)!r}")


class Unicycle(Robot):
    """A point robot in the plane with two actuated degrees of freedom: forward/backward
    speed and heading rate, both commanded to a low-level velocity controller whose
    response is first order (exact over a step for a held command)::

        v'   = v + (1 - exp(-dt / τ_v)) (max_speed    * a[0] - v)
        ω'   = ω + (1 - exp(-dt / τ_ω)) (max_yaw_rate * a[1] - ω)
        ψ'   = ψ + dt ω'
        p'   = p + dt v' (cos ψ', sin ψ')

    with the action ``a`` in [-1, 1]^2 (semi-implicit: the new velocities move the robot).
    It moves like a differential drive (no sideways motion). Differentiable in state and
    action. The heading ``ψ`` is not wrapped (it is only used through cos and sin).
    """

    name = "unicycle"
    Config = UnicycleConfig
    state_fields = {
        "pos": StateField((2,), "float", "position (x, y), m, world frame"),
        "yaw": StateField((), "float", "heading ψ, rad, counter-clockwise from world x (not wrapped)"),
        "speed": StateField((), "float", "forward speed v along the heading, m/s (negative: backward)"),
        "yaw_rate": StateField((), "float", "heading rate ω, rad/s"),
    }
    action_dim = 2
    action_doc = "[forward speed command (±max_speed), heading-rate command (±max_yaw_rate)], normalised to [-1, 1]"
    default_dt = 0.05
    drawer = "diffenvs.robots.unicycle.drawer:UnicycleDrawer"
    controller = "diffenvs.robots.unicycle.controller:DepthReactiveController"

    def __init__(self, options, **kw):
        super().__init__(options, **kw)
        self.k_speed = 1.0 - math.exp(-self.dt / self.cfg.speed_time_constant)
        self.k_yaw_rate = 1.0 - math.exp(-self.dt / self.cfg.yaw_rate_time_constant)

    def step(self, state: State, action: Tensor) -> State:
        cfg = self.cfg
        dv = const(cfg.max_speed, action) * action[:, 0] - state["speed"]  # (commanded - current) speed
        speed = state["speed"] + const(self.k_speed, dv) * dv
        dw = const(cfg.max_yaw_rate, action) * action[:, 1] - state["yaw_rate"]
        yaw_rate = state["yaw_rate"] + const(self.k_yaw_rate, dw) * dw
        dt = const(self.dt, yaw_rate)
        yaw = state["yaw"] + dt * yaw_rate
        heading = torch.stack([torch.cos(yaw), torch.sin(yaw)], -1)
        pos = state["pos"] + (dt * speed).unsqueeze(-1) * heading
        return {"pos": pos, "yaw": yaw, "speed": speed, "yaw_rate": yaw_rate}

    def heading(self, state: State) -> Tensor:
        """``(N, 2)`` unit vector of the heading, world frame."""
        return torch.stack([torch.cos(state["yaw"]), torch.sin(state["yaw"])], -1)

    def position(self, state: State) -> Tensor:
        pos = state["pos"]
        return torch.cat([pos, torch.zeros_like(pos[:, :1])], dim=-1)

    def describe(self) -> str:
        return f"unicycle (max {self.cfg.max_speed:g} m/s, {self.cfg.max_yaw_rate:g} rad/s)"
