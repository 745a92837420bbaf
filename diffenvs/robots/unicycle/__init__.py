"""A planar unicycle with a forward depth camera among random obstacles: the residual
paper's local-navigation system (§IV)."""

from __future__ import annotations

from ...contract import EnvSpec
from .robot import Unicycle, UnicycleConfig
from .tasks import NavConfig, NavTask

ROBOT = Unicycle

ENVS = (
    EnvSpec("DiffNav-PointMass-v0", "unicycle", NavTask, 200, label="Depth navigation (point mass)"),
)

__all__ = ["ENVS", "ROBOT", "NavConfig", "NavTask", "Unicycle", "UnicycleConfig"]
