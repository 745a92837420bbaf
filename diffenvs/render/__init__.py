"""Pillow rendering of any diffenvs env (``render_mode="rgb_array"``), and animation files.

The package knows no robot. :class:`Renderer` draws the scene (ground, the task's
markers, trails of ``robot.position``, shadows, a text overlay) and delegates each robot
to the drawer its robot class names (``Robot.drawer = "module:Class"``, a
:class:`RobotDrawer` drawing with world-space :class:`Canvas` primitives through a
pinhole :class:`Camera`). :func:`save_animation` writes frames to a GIF (or MP4 with
``imageio[ffmpeg]``) and :func:`record_episode` runs a policy and saves the animation.

A vector env's ``render()`` returns one frame per env (Gymnasium's convention, what
``gymnasium.wrappers.vector.RecordVideo`` tiles); ``render_overview()`` returns one
picture of up to 16 envs together, which :func:`record_episode` uses.
"""

from .animation import record_episode, save_animation
from .camera import NEAR, Camera, clip_polygon, clip_polyline
from .canvas import BODY, PALETTE, Canvas, blend, unit_circle
from .drawer import PointDrawer, RobotDrawer, StateRow
from .scene import Renderer

__all__ = [
    "BODY",
    "NEAR",
    "PALETTE",
    "Camera",
    "Canvas",
    "PointDrawer",
    "Renderer",
    "RobotDrawer",
    "StateRow",
    "blend",
    "clip_polygon",
    "clip_polyline",
    "record_episode",
    "save_animation",
    "unit_circle",
]
