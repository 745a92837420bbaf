"""Quadrotor tasks of the ABPT paper (Table 1, Appendix C): one small file each."""

from __future__ import annotations

from .base import QuadrotorTask, SkeletonWeights, TaskConfig
from .hover import HoverConfig, HoverTask
from .landing import LandingConfig, LandingTask
from .racing import RacingConfig, RacingTask, RacingVelocityConfig, RacingVelocityTask
from .tracking import TrackingConfig, TrackingTask

#: Task name -> class (the ``task`` argument of the env).
TASKS: dict[str, type[QuadrotorTask]] = {
    "hover": HoverTask,
    "tracking": TrackingTask,
    "landing": LandingTask,
    "racing": RacingTask,
    "racing_velocity": RacingVelocityTask,
}

__all__ = [
    "TASKS",
    "HoverConfig",
    "HoverTask",
    "LandingConfig",
    "LandingTask",
    "QuadrotorTask",
    "RacingConfig",
    "RacingTask",
    "RacingVelocityConfig",
    "RacingVelocityTask",
    "SkeletonWeights",
    "TaskConfig",
    "TrackingConfig",
    "TrackingTask",
]
