"""The robot drawer interface: how a robot appears in the pictures of :class:`~diffenvs.render.Renderer`.

A robot names its drawer class in ``Robot.drawer = "module:Class"`` (a subclass of
:class:`RobotDrawer`, usually in its own folder, e.g.
``diffenvs.robots.quadrotor.drawer:QuadrotorDrawer``). The renderer builds it once per
scene as ``Class(robot, scale)`` and calls :meth:`RobotDrawer.draw` for every shown env,
far robots first. Everything else (ground, shadows, trails, task markers, the overlay) is
drawn by the renderer from ``robot.position(state)`` and the task's markers.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from .canvas import BODY, Canvas, Colour

#: Per-env state as the drawers get it: field name -> numpy array of the field's per-env shape.
StateRow = dict[str, np.ndarray]


class RobotDrawer:
    """Draws one robot of a batch (base class; subclass and override :meth:`draw`).

    Args:
        robot: the env's :class:`~diffenvs.contract.Robot` (for its options and
            parameters, e.g. the quadrotor's arm length).
        scale: the robot is drawn this many times its real size (``None``:
            :attr:`default_scale`).

    Class attributes:
        default_scale: drawing scale when the renderer gives none (small robots are
            drawn enlarged so they stay visible from far away).
    """

    default_scale: ClassVar[float] = 1.0

    def __init__(self, robot, scale: float | None = None):
        self.robot = robot
        self.scale = float(self.default_scale if scale is None else scale)
        if not self.scale > 0:
            raise ValueError(f"drawing scale must be positive, got {scale!r}")

    @property
    def size(self) -> float:
        """Radius of the robot's footprint as drawn (m, scale included): the radius of its shadow."""
        return 0.1 * self.scale

    def position(self, state: StateRow) -> np.ndarray:
        """The world position ``(3,)`` of one env's robot, from ``robot.position``."""
        batch = {k: torch.as_tensor(np.asarray(v))[None] for k, v in state.items()}
        with torch.no_grad():
            return self.robot.position(batch)[0].detach().cpu().double().numpy()

    def draw(self, canvas: Canvas, state: StateRow, colour: Colour) -> None:
        """Draw the robot of one env.

        Args:
            canvas: where to draw (world-space primitives, clipped to the view).
            state: the env's state row: every field of the env state (robot fields,
                ``step``, task fields) as a numpy array of the field's per-env shape
                (floats as ``float64``).
            colour: the env's RGB colour.
        """
        raise NotImplementedError


class PointDrawer(RobotDrawer):
    """The fallback for robots without a drawer: a coloured dot at ``robot.position``."""

    def draw(self, canvas: Canvas, state: StateRow, colour: Colour) -> None:
        p = self.position(state)
        if np.all(np.isfinite(p)):
            canvas.dot(p, 5.0, colour, outline=BODY, width=1.5)
