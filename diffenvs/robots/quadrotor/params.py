"""Vehicle parameters and presets.

Rotor layout (X frame, body FLU axes, seen from above)::

        x (forward)
        ^
    2 (FL, CW)   0 (FR, CCW)
          \\     /
           +---+  --> -y
          /     \\
    1 (BL, CCW)  3 (BR, CW)

Rotor ``i`` sits at ``arm_length / sqrt(2) * (sx_i, sy_i, 0)`` with
``(sx, sy) = (+1, -1), (-1, +1), (+1, +1), (-1, -1)`` and produces thrust
``f_i >= 0`` along body ``+z``. A rotor spinning counter-clockwise (seen from above)
pushes the body clockwise, so the yaw torque is ``kappa * sum(d_i * f_i)`` with
``d = (-1, -1, +1, +1)``. The resulting mixer ("allocation matrix") maps rotor
thrusts to ``(T, tau_x, tau_y, tau_z)``::

    T     = f0 + f1 + f2 + f3
    tau_x = l/sqrt(2) * (-f0 + f1 + f2 - f3)
    tau_y = l/sqrt(2) * (-f0 + f1 - f2 + f3)
    tau_z = kappa * (-f0 - f1 + f2 + f3)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

# (sx, sy) of each rotor in units of arm_length / sqrt(2), and yaw direction d_i.
ROTOR_SIGNS_X = (1.0, -1.0, 1.0, -1.0)
ROTOR_SIGNS_Y = (-1.0, 1.0, 1.0, -1.0)
ROTOR_YAW_DIRECTION = (-1.0, -1.0, 1.0, 1.0)


@dataclass(frozen=True)
class QuadrotorParams:
    """Physical parameters of one quadrotor (all SI units).

    Attributes:
        name: preset name, for logs.
        mass: kg.
        inertia: principal moments of inertia (Jxx, Jyy, Jzz), kg m^2, body frame.
        arm_length: distance from the centre of mass to each rotor, m.
        kappa: yaw torque per unit rotor thrust, m (N m per N).
        max_thrust: largest thrust of one rotor, N (action +1).
        min_thrust: smallest thrust of one rotor, N (action -1).
        motor_time_constant: first-order motor lag time constant, s (used only when
            the environment is built with ``motor_lag=True``).
        drag: body-frame linear drag coefficients (dx, dy, dz), N s/m:
            ``F_drag_body = -drag * v_body``.
        gravity: gravitational acceleration, m/s^2, along world ``-z``.
    """

    name: str
    mass: float
    inertia: tuple[float, float, float]
    arm_length: float
    kappa: float
    max_thrust: float
    min_thrust: float = 0.0
    motor_time_constant: float = 0.033
    drag: tuple[float, float, float] = (0.005, 0.005, 0.00575)
    gravity: float = 9.81

    def __post_init__(self):
        if self.mass <= 0 or min(self.inertia) <= 0 or self.arm_length <= 0:
            raise ValueError(f"{self.name}: mass, inertia and arm_length must be positive")
        if not self.max_thrust > self.min_thrust >= 0:
            raise ValueError(f"{self.name}: need max_thrust > min_thrust >= 0")
        if self.motor_time_constant <= 0:
            raise ValueError(f"{self.name}: motor_time_constant must be positive")

    @property
    def hover_thrust(self) -> float:
        """Thrust per rotor that balances gravity, N."""
        return self.mass * self.gravity / 4.0

    @property
    def thrust_to_weight(self) -> float:
        return 4.0 * self.max_thrust / (self.mass * self.gravity)

    @property
    def hover_action(self) -> float:
        """Normalised action in [-1, 1] that commands hover thrust on every rotor."""
        return 2.0 * (self.hover_thrust - self.min_thrust) / (self.max_thrust - self.min_thrust) - 1.0

    def replace(self, **changes) -> QuadrotorParams:
        """A copy with some fields changed (unknown names raise ``TypeError``)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown vehicle parameter(s) {sorted(unknown)}; valid: {sorted(known)}")
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return QuadrotorParams(**values)


def _paper_era_inertia(mass: float, arm: float) -> tuple[float, float, float]:
    base = mass / 12.0 * arm**2
    return (4.5 * base, 4.5 * base, 7.0 * base)


#: Vehicle presets. ``drone460`` is the default (see docs/dynamics).
PRESETS: dict[str, QuadrotorParams] = {
    # The ABPT authors' current drone (VisFly "drone_state" configuration):
    # 0.46 kg, thrust map saturating near 5.0 N per rotor (thrust-to-weight ~4.4).
    "drone460": QuadrotorParams(
        name="drone460",
        mass=0.46,
        inertia=(1.01e-3, 1.53e-3, 2.03e-3),
        arm_length=0.075,
        kappa=0.016,
        max_thrust=5.0,
        motor_time_constant=0.033,
        drag=(0.005, 0.005, 0.00575),
    ),
    # The drone of the paper's era: 0.73 kg, 0.17 m arm, J ~ m/12 arm^2 diag(4.5, 4.5, 7),
    # thrust-to-weight ~12. kappa, drag and motor lag are not reported for it; the
    # 460 g values are reused.
    "drone730": QuadrotorParams(
        name="drone730",
        mass=0.73,
        inertia=_paper_era_inertia(0.73, 0.17),
        arm_length=0.17,
        kappa=0.016,
        max_thrust=12.0 * 0.73 * 9.81 / 4.0,
        motor_time_constant=0.033,
        drag=(0.005, 0.005, 0.00575),
    ),
}

DEFAULT_VEHICLE = "drone460"


def get_vehicle(vehicle: str | QuadrotorParams) -> QuadrotorParams:
    """Resolve a preset name (or pass a :class:`QuadrotorParams` through)."""
    if isinstance(vehicle, QuadrotorParams):
        return vehicle
    if isinstance(vehicle, str) and vehicle in PRESETS:
        return PRESETS[vehicle]
    raise ValueError(f"unknown vehicle {vehicle!r}; choose one of {sorted(PRESETS)} or pass a QuadrotorParams")


def mixer_matrix(params: QuadrotorParams) -> list[list[float]]:
    """4x4 allocation matrix ``M`` with ``(T, tau_x, tau_y, tau_z) = M @ f``."""
    h = params.arm_length / math.sqrt(2.0)
    return [
        [1.0, 1.0, 1.0, 1.0],
        [h * sy for sy in ROTOR_SIGNS_Y],
        [-h * sx for sx in ROTOR_SIGNS_X],
        [params.kappa * d for d in ROTOR_YAW_DIRECTION],
    ]


class ParamTensors:
    """:class:`QuadrotorParams` as tensors on one device/dtype, precomputed for the step."""

    def __init__(self, params: QuadrotorParams, *, dtype: torch.dtype, device: torch.device | str):
        kw = dict(dtype=dtype, device=device)
        self.params = params
        self.mass = torch.tensor(params.mass, **kw)
        self.inv_mass = 1.0 / params.mass
        self.inertia = torch.tensor(params.inertia, **kw)  # (3,)
        self.inv_inertia = 1.0 / self.inertia  # (3,)
        mix = torch.tensor(mixer_matrix(params), **kw)
        self.mixer = mix  # (4, 4): wrench = mixer @ f
        self.mixer_t = mix.T.contiguous()  # (4, 4): wrench = f @ mixer_t (row-batched)
        self.mixer_inv_t = torch.linalg.inv(mix).T.contiguous()  # f = wrench @ mixer_inv_t
        self.drag = torch.tensor(params.drag, **kw)  # (3,)
        self.thrust_axis = torch.tensor([0.0, 0.0, 1.0], **kw)  # body z, selects T from the wrench
        self.gravity = torch.tensor([0.0, 0.0, -params.gravity], **kw)  # (3,)
        self.min_thrust = params.min_thrust
        self.max_thrust = params.max_thrust
        self.thrust_scale = 0.5 * (params.max_thrust - params.min_thrust)
        self.thrust_offset = params.min_thrust + self.thrust_scale
        self.inv_motor_tau = 1.0 / params.motor_time_constant
