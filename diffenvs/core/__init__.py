"""Batched, differentiable quadrotor physics (no Gymnasium dependency)."""

from .dynamics import (
    INTEGRATORS,
    STATE_DIM,
    QuadState,
    action_to_thrust,
    derivative,
    integrate,
    make_state,
    thrust_to_action,
)
from .grad import scale_grad, straight_through_clamp
from .params import DEFAULT_VEHICLE, PRESETS, ParamTensors, QuadrotorParams, get_vehicle, mixer_matrix

__all__ = [
    "DEFAULT_VEHICLE",
    "INTEGRATORS",
    "PRESETS",
    "STATE_DIM",
    "ParamTensors",
    "QuadState",
    "QuadrotorParams",
    "action_to_thrust",
    "derivative",
    "get_vehicle",
    "integrate",
    "make_state",
    "mixer_matrix",
    "scale_grad",
    "straight_through_clamp",
    "thrust_to_action",
]
