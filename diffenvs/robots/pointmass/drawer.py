"""How a point mass looks in rendered pictures (``PointMass.drawer``)."""

from __future__ import annotations

import numpy as np

from ...render import BODY, Canvas, RobotDrawer, blend

_X, _Y = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
_LIFT = 0.004  # drawn this high above the ground, m (so it covers its own shadow)


class PointMassDrawer(RobotDrawer):
    """A puck on the ground (a disc of radius ``0.15 * scale`` m in the env's colour with a
    dark rim) and an arrow of its velocity (the distance covered in ``arrow_time`` s)."""

    radius = 0.15
    arrow_time = 0.4

    @property
    def size(self) -> float:
        return 1.15 * self.radius * self.scale

    def draw(self, canvas: Canvas, state, colour) -> None:
        pos, vel = np.asarray(state["pos"], np.float64), np.asarray(state["vel"], np.float64)
        if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(vel))):
            return
        r = self.radius * self.scale
        c = np.array([pos[0], pos[1], _LIFT])
        canvas.disc(c, r, _X, _Y, fill=colour, outline=BODY, width=1.5)
        canvas.disc(c, 0.35 * r, _X, _Y, fill=blend(colour, (255, 255, 255), 0.5))
        speed = float(np.hypot(*vel))
        if speed * self.arrow_time < 0.3 * r:
            return
        d = np.array([vel[0], vel[1], 0.0]) / speed
        side = np.array([-d[1], d[0], 0.0])
        tip = c + d * (r + speed * self.arrow_time)
        head = min(0.5 * r, 0.4 * speed * self.arrow_time)
        canvas.polyline([c + d * r, tip - d * 0.6 * head], BODY, 2.5)
        canvas.polygon([tip, tip - d * head + side * 0.55 * head, tip - d * head - side * 0.55 * head], fill=BODY)
