"""The quadrotor robot (ABPT paper): rigid-body dynamics, four tasks, a cascaded controller.

The registration table :data:`ENVS` is the one place the quadrotor ids are defined;
``import diffenvs`` registers them, and the trainers' presets, evaluation metric and figure
labels are read from it.
"""

from __future__ import annotations

from ...contract import EnvSpec
from .controller import CascadedController, ControllerGains
from .dynamics import STATE_DIM, QuadState, action_to_thrust, derivative, integrate, make_state, thrust_to_action
from .params import DEFAULT_VEHICLE, PRESETS, ParamTensors, QuadrotorParams, get_vehicle, mixer_matrix
from .presets import PRESETS as TRAIN_PRESETS
from .robot import Quadrotor, QuadrotorConfig
from .tasks import TASKS, HoverTask, LandingTask, QuadrotorTask, RacingTask, RacingVelocityTask, TrackingTask

ROBOT = Quadrotor


def _spec(env_id: str, task: type[QuadrotorTask], steps: int) -> EnvSpec:
    return EnvSpec(env_id, "quadrotor", task, steps, label=task.label, presets=TRAIN_PRESETS[task.name])


#: The registered quadrotor ids (one row each).
ENVS = (
    _spec("DiffQuad-Hover-v0", HoverTask, 256),
    _spec("DiffQuad-Tracking-v0", TrackingTask, 256),
    _spec("DiffQuad-Landing-v0", LandingTask, 256),
    _spec("DiffQuad-Racing-v0", RacingTask, 512),
    _spec("DiffQuad-RacingVelocity-v0", RacingVelocityTask, 512),
)

__all__ = [
    "CascadedController",
    "ControllerGains",
    "DEFAULT_VEHICLE",
    "ENVS",
    "PRESETS",
    "ROBOT",
    "STATE_DIM",
    "TASKS",
    "ParamTensors",
    "QuadState",
    "Quadrotor",
    "QuadrotorConfig",
    "QuadrotorParams",
    "action_to_thrust",
    "derivative",
    "get_vehicle",
    "integrate",
    "make_state",
    "mixer_matrix",
    "thrust_to_action",
]
