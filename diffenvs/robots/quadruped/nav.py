"""Perceptive quadruped navigation (residual paper §IV, §V-C, Fig. 1C and 2): walk forward
at a commanded speed among random obstacles, seeing them only through a depth camera on
the base.

The walk task (:class:`~diffenvs.robots.quadruped.tasks.WalkTask`) with the obstacle
course of the navigation env (:mod:`diffenvs.obstacle_course`): the same random worlds,
the same 16x12 depth camera, now mounted on the quadruped's base (it pitches and rolls
with the base), and the same obstacle penalties at a nose ahead of the base. Obstacles
are not colliders of the engine (only the feet touch anything): touching one with the
body is an event, a penalty that ends the episode. Turning is not commanded or rewarded
(``k_yaw = 0``): a policy must learn to turn around obstacles to keep walking.

Observation (``Dict``): ``"depth"``, the ``(12, 16)`` image (``1/depth`` by default), and
``"state"``, the 68 proprioceptive values of the blind tasks (so the blind anchor policy
reads it unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from ...consts import const
from ...contract import Marker, RewardTerm, State, TaskStep
from ...obstacle_course import COURSE_TERMS, CourseConfig, ObstacleCourse
from ...rotations import quat_to_rotmat
from .tasks import OBS_DIM, WalkConfig, WalkTask


@dataclass(frozen=True)
class QuadrupedNavConfig(CourseConfig, WalkConfig):
    """Perceptive navigation options: the walk task's (:class:`~.tasks.WalkConfig`), the
    obstacle course's (:class:`~diffenvs.obstacle_course.CourseConfig`; its arena, ±25 m,
    replaces the walk task's) and

    Attributes:
        camera_offset: the camera's position in the base frame, m (x forward, z up): at
            the front of the base.
        camera_pitch_deg: the camera's downward tilt relative to the base, degrees.
        body_radius: the body is a sphere of this radius at the base (collisions), m; the
            nose is a sphere of the same radius ``nose_length`` ahead, level, along the
            base's heading.
        k_yaw: weight of the yaw-rate error (0: turning is free, as in the paper).
        success_speed_error: an episode succeeds when it is collision-free, the robot
            never falls, and the mean forward-speed error is below this, m/s.
    """

    camera_offset: tuple[float, float, float] = (0.4, 0.0, 0.05)
    camera_pitch_deg: float = 0.0
    body_radius: float = 0.4
    k_yaw: float = 0.0
    success_speed_error: float = 0.3

    def __post_init__(self):
        CourseConfig.__post_init__(self)
        if self.body_radius <= 0:
            raise ValueError(f"body_radius must be > 0, got {self.body_radius!r}")


class QuadrupedNavTask(WalkTask):
    """Walk forward at the commanded speed among obstacles seen through a depth camera on
    the base, without touching them (see the module docstring)."""

    name = "nav"
    label = "Quadruped: perceptive navigation"
    Config = QuadrupedNavConfig
    default_episode_steps = 500
    reward_terms = (*WalkTask.reward_terms, *(RewardTerm(*t) for t in COURSE_TERMS))
    metric_names = ("upright", "velocity_error", "distance", "collision", "collision_free", "success")
    metric_units = {"upright": "%", "velocity_error": "m/s", "distance": "m", "collision": "%",
                    "collision_free": "%", "success": "%"}
    main_metric = ("collision_free", False)
    view = {"azimuth": -90.0, "elevation": 89.0}  # top-down, world x to the right
    costly_observation = True  # observe() renders the depth image

    def __init__(self, options, **kw):
        super().__init__(options, **kw)
        cfg = self.cfg
        self.course = ObstacleCourse(cfg)
        self.camera, self.image_shape = self.course.camera, self.course.image_shape
        self.camera_offset = self.tensor(cfg.camera_offset)
        pitch = np.radians(cfg.camera_pitch_deg)  # about the camera's y axis (left): positive looks down
        self.camera_mount = self.tensor([[np.cos(pitch), 0.0, np.sin(pitch)], [0.0, 1.0, 0.0],
                                         [-np.sin(pitch), 0.0, np.cos(pitch)]])
        self.state_fields = {**self.state_fields, **self.course.state_fields}

    @property
    def observation_space(self) -> gym.Space:
        return gym.spaces.Dict({"depth": self.course.depth_space(),
                                "state": gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)})

    # ------------------------------------------------------------------ episodes
    def sample_initial(self, n: int, gen: torch.Generator) -> State:
        state = super().sample_initial(n, gen)
        return {**state, **self.course.sample(n, gen, state["start_xy"])}

    # ------------------------------------------------------------------ the camera
    def camera_pose(self, state: State) -> tuple[Tensor, Tensor]:
        """The camera's position ``(N, 3)`` (m, world) and rotation camera -> world ``(N, 3, 3)``."""
        rot = quat_to_rotmat(state["base_quat"])
        pos = state["base_pos"] + rot @ self.camera_offset
        return pos, rot @ self.camera_mount

    def depth(self, state: State) -> Tensor:
        """The camera's depth image ``(N, H, W)``, m (noisy when ``depth_noise > 0``)."""
        pos, rot = self.camera_pose(state)
        return self.course.depth(state, pos, rot)

    def observe(self, state: State) -> dict[str, Tensor]:
        return {"depth": self.course.image(self.depth(state)), "state": super().observe(state)}

    def depth_from_obs(self, obs: dict[str, Tensor]) -> Tensor:
        """Depth in m, ``(N, H, W)``, from an observation (either encoding)."""
        return self.course.depth_from_image(obs["depth"])

    # ------------------------------------------------------------------ step
    def clearances(self, state: State) -> tuple[Tensor, Tensor]:
        """``(body, penalty point)`` clearances, m, ``(N,)`` each: of the body sphere at the
        base and of the nose ``nose_length`` ahead at the same height (obstacles grown by
        ``inflation``); ground excluded."""
        base = state["base_pos"]
        nose = torch.cat([base[:, :2] + const(self.cfg.nose_length, base) * self.heading(state), base[:, 2:]], -1)
        return self.course.clearances(state, base, nose, self.cfg.body_radius)

    def evaluate(self, s: State, failed: Tensor) -> TaskStep:
        out = super().evaluate(s, failed)
        body, point = self.clearances(s)
        collided = (body.detach() <= const(0.0, body)) & ~failed
        terms = {**out.terms, **self.course.penalty_terms(point, collided)}
        task_state = {**out.task_state, **self.course.keep(s)}
        upright, error = out.metrics["upright"], out.metrics["velocity_error"]
        # A collision ends the episode, so "collision-free" at the episode's end is its last step's.
        success = (~collided & (upright > const(0.0, upright)) & (error < const(self.cfg.success_speed_error, error))
                   ).to(self.dtype)
        metrics = {**out.metrics, "collision": collided, "collision_free": (~collided).to(self.dtype),
                   "success": success}
        return TaskStep(terms, task_state, collided, metrics)

    # ------------------------------------------------------------------ drawing
    def markers(self) -> tuple[Marker, ...]:
        return self.course.markers()

    def draw_env(self, canvas, row, colour) -> None:
        """The env's obstacles (footprints), its camera's rays along the horizon row and the nose."""
        self.course.draw_obstacles(canvas, row)
        if not all(np.all(np.isfinite(np.asarray(row[k]))) for k in ("base_pos", "base_quat")):
            return
        state = {k: torch.as_tensor(np.asarray(v)).unsqueeze(0).to(self.device) for k, v in row.items()}
        state = {k: v.to(self.dtype) if v.is_floating_point() else v for k, v in state.items()}
        with torch.no_grad():
            depth = self.depth(state)[0]
            pos, rot = self.camera_pose(state)
            _, d = self.camera.world_rays(pos, rot)
            heading = self.heading(state)[0].double().cpu().numpy()
        p = np.array([row["base_pos"][0], row["base_pos"][1], 0.02])
        nose = p + self.cfg.nose_length * np.array([heading[0], heading[1], 0.0]) if self.cfg.nose_length > 0 \
            else None
        self.course.draw_view(canvas, depth, p, d[0], nose, colour)

    def inset(self, state: State) -> Tensor:
        """The depth image, white near and black at ``max_range``."""
        return self.course.inset(self.depth(state))
