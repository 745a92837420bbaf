"""How a quadrotor looks in rendered pictures (``Quadrotor.drawer``)."""

from __future__ import annotations

import math

import numpy as np

from ...render import BODY, Canvas, RobotDrawer, blend, unit_circle
from .params import ROTOR_SIGNS_X, ROTOR_SIGNS_Y

# Rotor positions of the X frame in units of arm_length (FR, BL, FL, BR), body frame.
_ROTOR_XY = np.stack([ROTOR_SIGNS_X, ROTOR_SIGNS_Y], -1) / math.sqrt(2.0)
_CIRCLE = unit_circle(16)
# Body plate, pointed towards the front (body +x), in units of the drawn arm length.
_BODY = 0.18 * np.array([[1.4, 0.0], [0.6, 1.0], [-1.0, 1.0], [-1.0, -1.0], [0.6, -1.0]])


def _rotmat(q: np.ndarray) -> np.ndarray:
    """Rotation matrix (body -> world) of a unit quaternion ``(w, x, y, z)``."""
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


class QuadrotorDrawer(RobotDrawer):
    """An X of arms through a pointed body plate, and four rotor discs oriented by the
    attitude quaternion; the two front rotors (body ``+x``) in the env's colour, the rear
    ones darker. Drawn ``scale`` times the real size (default 4: a real quadrotor is a
    few pixels wide when the whole arena is in view); the arm length is the vehicle's.
    """

    default_scale = 4.0

    def __init__(self, robot, scale: float | None = None):
        super().__init__(robot, scale)
        self.arm = float(robot.vehicle.arm_length)

    @property
    def size(self) -> float:
        return 1.2 * self.scale * self.arm

    def draw(self, canvas: Canvas, state, colour) -> None:
        p, q = np.asarray(state["pos"], np.float64), np.asarray(state["quat"], np.float64)
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))):
            return
        R = _rotmat(q / max(np.linalg.norm(q), 1e-9))
        size = self.arm * self.scale
        world = p + np.c_[size * _ROTOR_XY, np.zeros(4)] @ R.T
        dark = blend(colour, (0, 0, 0), 0.45)
        for a, b in ((0, 1), (2, 3)):  # FR-BL and FL-BR arms
            canvas.polyline([world[a], world[b]], BODY, 2.5)
        canvas.polygon(p + np.c_[size * _BODY, np.zeros(5)] @ R.T, fill=BODY)
        disc = np.c_[0.42 * size * _CIRCLE, np.full(16, 0.06 * size)] @ R.T
        for i in np.argsort(-canvas.camera.depth(world), kind="stable"):  # far rotors first
            fill = colour if _ROTOR_XY[i, 0] > 0 else dark
            canvas.polygon(world[i] + disc, fill=(*fill, 190), outline=fill, width=1.0)
