"""How the quadruped looks in rendered pictures (``Quadruped.drawer``)."""

from __future__ import annotations

import numpy as np
import torch

from ...render import BODY, Canvas, RobotDrawer, blend

#: Foot contact drawn above this normal force, N.
CONTACT_FORCE = 5.0


class QuadrupedDrawer(RobotDrawer):
    """The base as a box outline in the env's colour, each leg as a polyline through its
    joints to the foot, feet as dots (filled white when in contact), and the commanded
    velocity as an arrow from the base when the task has one."""

    default_scale = 1.0

    @property
    def size(self) -> float:
        return 0.35 * self.scale

    def draw(self, canvas: Canvas, state, colour) -> None:
        robot = self.robot
        batch = {k: torch.as_tensor(np.asarray(v), dtype=robot.dtype).unsqueeze(0)
                 for k, v in state.items() if k in robot.state_fields}
        if not all(np.all(np.isfinite(np.asarray(state[k]))) for k in ("base_pos", "base_quat", "joint_pos")):
            return
        from ...articulated import kinematics

        with torch.no_grad():
            kin = kinematics(robot.mt, robot.qpos(batch))
            feet = robot.feet(batch, kin)[0].double().numpy()
        pos, rot = kin.pos[0].double().numpy(), kin.rot[0].double().numpy()
        base, r0 = pos[0], rot[0]
        half = np.array([0.3, 0.12, 0.08]) * self.scale
        corners = [base + r0 @ (half * np.array(s)) for s in ((1, 1, 1), (1, -1, 1), (-1, -1, 1), (-1, 1, 1))]
        canvas.polygon(corners, fill=(*colour, 220), outline=BODY, width=1.5)
        parent = robot.model.parent
        force = np.asarray(state.get("foot_force", np.zeros(4)))
        for f, body in enumerate(robot.model.foot_body):
            chain, b = [feet[f]], int(body)
            while b > 0:  # up to the hip (the base is the box)
                chain.append(pos[b])
                b = int(parent[b])
            canvas.polyline(chain[::-1], BODY, 2.5)
            canvas.polyline(chain[::-1], blend(colour, (255, 255, 255), 0.3), 1.2)
            touching = force[f] > CONTACT_FORCE
            canvas.dot(feet[f], 4.0, (255, 255, 255) if touching else colour, outline=BODY, width=1.0)
        command = np.asarray(state.get("command", np.zeros(3)), np.float64)
        if np.any(command[:2]):
            yaw = np.arctan2(r0[1, 0], r0[0, 0])
            c, s = np.cos(yaw), np.sin(yaw)
            v = np.array([c * command[0] - s * command[1], s * command[0] + c * command[1], 0.0])
            top = base + np.array([0.0, 0.0, 0.15])
            canvas.polyline([top, top + 0.5 * v], (240, 120, 40), 2.0)
            canvas.dot(top + 0.5 * v, 3.0, (240, 120, 40), outline=BODY, width=1.0)
