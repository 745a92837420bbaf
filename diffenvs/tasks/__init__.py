"""Quadrotor tasks of the ABPT paper (Table 1, Appendix C)."""

from __future__ import annotations

from .base import RewardTerm, SkeletonWeights, Task, TaskConfig, TaskStep
from .hover import HoverConfig, HoverTask
from .landing import LandingConfig, LandingTask
from .racing import RacingConfig, RacingTask, RacingVelocityConfig, RacingVelocityTask
from .tracking import TrackingConfig, TrackingTask

TASKS: dict[str, type[Task]] = {
    "hover": HoverTask,
    "tracking": TrackingTask,
    "landing": LandingTask,
    "racing": RacingTask,
    "racing_velocity": RacingVelocityTask,
}


def make_task(task, options, **kwargs) -> Task:
    """Build a task from its name (or class) and options."""
    if isinstance(task, type) and issubclass(task, Task):
        cls = task
    elif isinstance(task, str) and task in TASKS:
        cls = TASKS[task]
    else:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASKS)} or pass a Task subclass")
    return cls(options, **kwargs)


__all__ = [
    "TASKS",
    "HoverConfig",
    "HoverTask",
    "LandingConfig",
    "LandingTask",
    "RacingConfig",
    "RacingTask",
    "RacingVelocityConfig",
    "RacingVelocityTask",
    "TrackingConfig",
    "TrackingTask",
    "RewardTerm",
    "SkeletonWeights",
    "Task",
    "TaskConfig",
    "TaskStep",
    "make_task",
]
