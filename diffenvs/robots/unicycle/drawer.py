"""How the unicycle looks in rendered pictures (``Unicycle.drawer``)."""

from __future__ import annotations

import numpy as np

from ...render import BODY, Canvas, RobotDrawer, blend

_X, _Y = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])


class UnicycleDrawer(RobotDrawer):
    """A round body (its real radius times ``scale``) in the env's colour with a dark rim,
    and a wedge pointing along the heading."""

    default_scale = 1.5

    @property
    def size(self) -> float:
        return self.robot.cfg.radius * self.scale

    def draw(self, canvas: Canvas, state, colour) -> None:
        pos, yaw = np.asarray(state["pos"], np.float64), float(state["yaw"])
        if not (np.all(np.isfinite(pos)) and np.isfinite(yaw)):
            return
        r = self.size
        c = np.array([pos[0], pos[1], 0.03])
        canvas.disc(c, r, _X, _Y, fill=colour, outline=BODY, width=1.5)
        d = np.array([np.cos(yaw), np.sin(yaw), 0.0])
        side = np.array([-d[1], d[0], 0.0])
        canvas.polygon([c + 0.9 * r * d, c - 0.35 * r * d + 0.5 * r * side, c - 0.35 * r * d - 0.5 * r * side],
                       fill=blend(colour, (255, 255, 255), 0.6), outline=BODY, width=1.0)
