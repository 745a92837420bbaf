"""Robot-independent sensors that read an :class:`~diffenvs.worlds.ObstacleWorld` (see :mod:`.depth_camera`)."""

from .depth_camera import (
    DepthCamera,
    DepthCameraConfig,
    RayHits,
    min_pool,
    pixel_directions,
    ray_cast,
    rotation_from_euler,
)

__all__ = [
    "DepthCamera",
    "DepthCameraConfig",
    "RayHits",
    "min_pool",
    "pixel_directions",
    "ray_cast",
    "rotation_from_euler",
]
