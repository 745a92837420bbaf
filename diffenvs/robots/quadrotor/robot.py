"""The quadrotor robot: named state fields and the batched step over :mod:`.dynamics`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ...contract import Robot, State, StateField
from . import fused
from .dynamics import INTEGRATORS, OMEGA, POS, QUAT, THRUST, VEL, action_to_thrust, integrate
from .params import DEFAULT_VEHICLE, ParamTensors, QuadrotorParams, get_vehicle

_FIELDS = {"pos": POS, "quat": QUAT, "vel": VEL, "omega": OMEGA, "thrust": THRUST}


@dataclass(frozen=True)
class QuadrotorConfig:
    """Quadrotor options (keyword arguments of the env, or ``robot_options``).

    Attributes:
        vehicle: preset name (``"drone460"``, ``"drone730"``) or a
            :class:`~diffenvs.robots.quadrotor.QuadrotorParams`.
        integrator: ``"euler"`` (the paper's) or ``"rk4"``.
        motor_lag: first-order motor lag with the vehicle's time constant.
        fused: on CPU, take explicit Euler steps in one native call with a hand-written
            backward (:mod:`~diffenvs.robots.quadrotor.fused`; the same equations, equal to
            float rounding) where a C compiler is available; ``False``: PyTorch ops.
    """

    vehicle: str | QuadrotorParams = DEFAULT_VEHICLE
    integrator: str = "euler"
    motor_lag: bool = False
    fused: bool = True


class Quadrotor(Robot):
    """A rigid-body quadrotor with an X-frame mixer (see :mod:`diffenvs.robots.quadrotor.dynamics`).

    Actions are the four rotor thrusts normalised to [-1, 1] (``-1``: ``min_thrust``,
    ``+1``: ``max_thrust``). The quaternion convention is (w, x, y, z), body -> world.
    """

    name = "quadrotor"
    Config = QuadrotorConfig
    state_fields = {
        "pos": StateField((3,), "float", "position, m, world frame"),
        "quat": StateField((4,), "float", "attitude, unit quaternion (w, x, y, z), body -> world"),
        "vel": StateField((3,), "float", "velocity, m/s, world frame"),
        "omega": StateField((3,), "float", "body rates, rad/s, body frame"),
        "thrust": StateField((4,), "float", "actual rotor thrusts, N (the command without motor lag)"),
    }
    action_dim = 4
    action_doc = "rotor thrusts (FR, BL, FL, BR) normalised to [-1, 1]: -1 = min_thrust, +1 = max_thrust"
    default_dt = 0.02
    drawer = "diffenvs.robots.quadrotor.drawer:QuadrotorDrawer"
    controller = "diffenvs.robots.quadrotor.controller:CascadedController"

    def __init__(self, options, **kw):
        super().__init__(options, **kw)
        if self.cfg.integrator not in INTEGRATORS:
            raise ValueError(f"unknown integrator {self.cfg.integrator!r}; choose one of {list(INTEGRATORS)}")
        self.vehicle = get_vehicle(self.cfg.vehicle)
        self.params = ParamTensors(self.vehicle, dtype=self.dtype, device=self.device)
        self.integrator = self.cfg.integrator
        self.motor_lag = bool(self.cfg.motor_lag)
        #: The parameters of the native Euler step, or ``None`` where the step uses PyTorch ops.
        self.fused_params = None
        if (self.cfg.fused and self.integrator == "euler" and self.device.type == "cpu"
                and self.dtype in (torch.float32, torch.float64) and fused.available()):
            self.fused_params = fused.params_vector(self.params, self.dt)

    @property
    def fused(self) -> bool:
        """Whether steps run the native fused kernel (see :class:`QuadrotorConfig`)."""
        return self.fused_params is not None

    def step(self, state: State, action: Tensor) -> State:
        if self.fused_params is not None and fused.supports(state, action, self.fused_params):
            return fused.euler_step(state, action, self.fused_params, self.motor_lag)
        # The dynamics work on the packed (N, 17) state; the fields are views of the result.
        x = torch.cat([state[k] for k in _FIELDS], -1)
        x = integrate(x, action_to_thrust(action, self.params), self.params, self.dt, self.integrator, self.motor_lag)
        return {k: x[:, sl] for k, sl in _FIELDS.items()}

    def validate_state(self, state: State) -> None:
        qn = torch.linalg.vector_norm(state["quat"], dim=-1)
        if not bool(((qn - 1).abs() < 1e-3).all()):
            raise ValueError("state['quat'] must hold unit quaternions (w, x, y, z)")

    def position(self, state: State) -> Tensor:
        return state["pos"]

    def at_rest(self, pos: Tensor) -> State:
        """Drones at rest at ``pos`` ``(N, 3)``: identity attitude, hover thrust."""
        n = pos.shape[0]
        quat = pos.new_zeros(n, 4)
        quat[:, 0] = 1.0
        zeros = pos.new_zeros(n, 3)
        return {"pos": pos, "quat": quat, "vel": zeros, "omega": zeros.clone(),
                "thrust": pos.new_full((n, 4), self.vehicle.hover_thrust)}

    def describe(self) -> str:
        lag = ", motor lag" if self.motor_lag else ""
        return f"quadrotor {self.vehicle.name}, {self.integrator}{lag}{', fused' if self.fused else ''}"
