"""A batched, differentiable floating-base articulated-body engine in PyTorch.

:func:`load_mjcf` reads a robot (MJCF subset) into an :class:`ArticulatedModel`;
:mod:`.dynamics` has the batched algorithms (kinematics, mass matrix, bias forces, forward
dynamics, smooth foot contact, semi-implicit Euler); :mod:`.fused` runs a whole control step
without gradients as one native call (the same equations). States and results follow MuJoCo's
conventions so that they compare with C MuJoCo directly (``tests/test_articulated.py``).
"""

from .dynamics import (
    Accel,
    ContactForces,
    ContactParams,
    Dynamics,
    Kinematics,
    actuator_forces,
    body_velocities,
    contact_forces,
    dynamics,
    euler_step,
    forward_dynamics,
    integrate_positions,
    kinematics,
    point_forces,
    point_positions,
    point_states,
    smooth_clamp,
)
from .mjcf import load_mjcf
from .model import ArticulatedModel, ModelTensors

__all__ = [
    "Accel", "ArticulatedModel", "ContactForces", "ContactParams", "Dynamics", "Kinematics", "ModelTensors",
    "actuator_forces", "body_velocities", "contact_forces", "dynamics", "euler_step", "forward_dynamics",
    "integrate_positions", "kinematics", "load_mjcf", "point_forces", "point_positions", "point_states", "smooth_clamp",
]
