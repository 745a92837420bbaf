"""Obstacle worlds shared by tasks and sensors (robot-independent; see :mod:`.obstacles`)."""

from .obstacles import (
    KIND_BOX,
    KIND_CYLINDER,
    KIND_GROUND,
    KIND_NAMES,
    KIND_NONE,
    KIND_SPHERE,
    UNBOUNDED,
    Nearest,
    ObstacleWorld,
    WorldSamplerConfig,
    clearance,
    in_collision,
    nearest,
    sample_worlds,
    signed_distance,
    world_state_fields,
)

__all__ = [
    "KIND_BOX",
    "KIND_CYLINDER",
    "KIND_GROUND",
    "KIND_NAMES",
    "KIND_NONE",
    "KIND_SPHERE",
    "UNBOUNDED",
    "Nearest",
    "ObstacleWorld",
    "WorldSamplerConfig",
    "clearance",
    "in_collision",
    "nearest",
    "sample_worlds",
    "signed_distance",
    "world_state_fields",
]
