"""Depth-camera local navigation (residual paper §IV): track a commanded forward speed
among random static obstacles, seeing them only through a forward depth camera."""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from ...consts import const, const_like
from ...contract import Marker, RewardTerm, State, StateField, Task, TaskStep
from ...obstacle_course import COURSE_TERMS, CourseConfig, ObstacleCourse
from ...worlds.obstacles import ObstacleWorld


@dataclass(frozen=True)
class NavConfig(CourseConfig):
    """Navigation options (``task_options`` of ``DiffNav-PointMass-v0``): the obstacle,
    camera and penalty options of :class:`~diffenvs.obstacle_course.CourseConfig` (the
    camera is forward and level, on the robot) and

    Attributes:
        speed_command: the commanded forward speed is uniform in this range per episode, m/s.
        camera_z: camera height above the ground, m.
        velocity_smoothing: α of the smoothed velocity ``y_t = α v_t + (1 - α) y_{t-1}``,
            ``y_0 = 0``, of the forward speed and the heading rate (observed, and tracked
            by the speed reward).
        k_speed: weight of the smooth-L1 error of the smoothed forward speed.
        speed_beta: where that smooth-L1 turns from quadratic (below) to linear, m/s; a
            small value keeps the pull towards the command strong near it.
        k_turn: weight of the squared heading rate (discourages circling in free space).
        success_speed_error: an episode succeeds when it is collision-free, stays in the
            arena, and its mean speed error ``|v - command|`` is below this, m/s.
    """

    speed_command: tuple[float, float] = (0.5, 1.5)
    camera_z: float = 0.25
    velocity_smoothing: float = 0.2
    k_speed: float = 1.0
    speed_beta: float = 1.0
    k_turn: float = 0.05
    success_speed_error: float = 0.2

    def __post_init__(self):
        super().__post_init__()
        if not 0 < self.velocity_smoothing <= 1:
            raise ValueError(f"velocity_smoothing (α) must be in (0, 1], got {self.velocity_smoothing!r}")
        if self.speed_beta < 0:
            raise ValueError(f"speed_beta must be >= 0, got {self.speed_beta!r}")
        lo, hi = self.speed_command
        if not lo <= hi:
            raise ValueError(f"speed_command must be (low, high) with low <= high, got {self.speed_command!r}")


class NavTask(Task):
    """Track a commanded forward speed without touching obstacles, seeing them through a
    forward depth camera (see :class:`NavConfig` and the env page).

    Observation (``Dict``): ``"depth"``, the ``(image_height, image_width)`` image
    (``1/depth`` by default), and ``"state"``: the smoothed forward speed (m/s) and
    heading rate (rad/s), and the commanded speed (m/s).
    """

    name = "nav"
    label = "Depth navigation"
    robot = "unicycle"
    Config = NavConfig
    default_episode_steps = 200
    reward_terms = (
        RewardTerm("speed", True, "-k_speed * smooth_l1(smoothed forward speed - command, speed_beta)"),
        *(RewardTerm(*t) for t in COURSE_TERMS[:2]),
        RewardTerm("turn", True, "-k_turn * heading_rate^2"),
        RewardTerm(*COURSE_TERMS[2]),
    )
    metric_names = ("collision", "collision_free", "success", "speed_error", "distance")
    metric_units = {"collision": "%", "collision_free": "%", "success": "%", "speed_error": "m/s",
                    "distance": "m"}
    main_metric = ("collision_free", False)
    view = {"azimuth": -90.0, "elevation": 89.0}  # top-down, world x to the right
    costly_observation = True  # observe() renders the depth image

    def __init__(self, options, **kw):
        super().__init__(options, **kw)
        self.course = ObstacleCourse(self.cfg)
        self.camera, self.image_shape, self.counts = self.course.camera, self.course.image_shape, self.course.counts
        self.state_fields = {
            **self.course.state_fields,
            "speed_command": StateField((), "float", "commanded forward speed, m/s"),
            "vel_smooth": StateField((2,), "float", "smoothed (forward speed, heading rate), m/s and rad/s"),
            "odometer": StateField((), "float", "distance travelled in the episode, m"),
            "speed_error_sum": StateField((), "float", "sum over the episode of |forward speed - command|, m/s"),
        }

    # ------------------------------------------------------------------ spaces
    @property
    def observation_space(self) -> gym.Space:
        return gym.spaces.Dict({
            "depth": self.course.depth_space(),
            "state": gym.spaces.Box(-np.inf, np.inf, (3,), np.float32),
        })

    # ------------------------------------------------------------------ episodes
    def sample_initial(self, n: int, gen: torch.Generator) -> State:
        f = dict(dtype=self.dtype, device=self.device)
        pos = torch.zeros(n, 2, **f)
        u = torch.rand(n, 2, generator=gen, **f)
        lo, hi = self.cfg.speed_command
        course = self.course.sample(n, gen, pos)
        zero = torch.zeros(n, **f)
        return {
            "pos": pos, "yaw": math.pi * (2.0 * u[:, 0] - 1.0), "speed": zero, "yaw_rate": zero,
            **course,
            "speed_command": lo + (hi - lo) * u[:, 1],
            "vel_smooth": torch.zeros(n, 2, **f),
            "odometer": zero, "speed_error_sum": zero,
        }

    def world(self, state: State) -> ObstacleWorld:
        return self.course.world(state)

    def depth(self, state: State) -> Tensor:
        """The camera's depth image ``(N, H, W)``, m (noisy when ``depth_noise > 0``)."""
        pos = state["pos"]
        cam = torch.cat([pos, torch.full_like(pos[:, :1], self.cfg.camera_z)], -1)
        return self.course.depth(state, cam, state["yaw"])

    def observe(self, state: State) -> dict[str, Tensor]:
        return {"depth": self.course.image(self.depth(state)),
                "state": torch.cat([state["vel_smooth"], state["speed_command"].unsqueeze(-1)], -1)}

    def depth_from_obs(self, obs: dict[str, Tensor]) -> Tensor:
        """Depth in m, ``(N, H, W)``, from an observation (either encoding)."""
        return self.course.depth_from_image(obs["depth"])

    # ------------------------------------------------------------------ step
    def clearances(self, state: State) -> tuple[Tensor, Tensor]:
        """``(body, penalty point)`` clearances, m, ``(N,)`` each: the signed distance from the
        body disc (at its height) and from the nose (``nose_length`` ahead, obstacles grown
        by ``inflation``) to the nearest obstacle surface (``+inf`` with none; ground excluded)."""
        radius = self.robot_model.cfg.radius
        pos = state["pos"]
        nose = pos + const(self.cfg.nose_length, pos) * self.robot_model.heading(state)
        z = torch.full_like(pos[:, :1], radius)
        return self.course.clearances(state, torch.cat([pos, z], -1), torch.cat([nose, z], -1), radius)

    def evaluate(self, s: State, failed: Tensor) -> TaskStep:
        cfg = self.cfg

        k = const_like(s["speed"])  # the constants as tensors of its dtype: no per-call dtype copies

        a = cfg.velocity_smoothing
        vel = torch.stack([s["speed"], s["yaw_rate"]], -1)
        smooth = k(a) * vel + k(1.0 - a) * s["vel_smooth"]
        body, point = self.clearances(s)
        collided = (body.detach() <= k(0.0)) & ~failed
        course = self.course.penalty_terms(point, collided)
        terms = {
            "speed": k(-cfg.k_speed) * torch.nn.functional.smooth_l1_loss(smooth[:, 0], s["speed_command"],
                                                                          reduction="none", beta=cfg.speed_beta),
            "clearance": course["clearance"],
            "collision": course["collision"],
            "turn": k(-cfg.k_turn) * s["yaw_rate"].square(),
            "crash": course["crash"],
        }
        speed = s["speed"].detach()
        odometer = s["odometer"] + k(self.robot_model.dt) * speed.abs()
        error_sum = s["speed_error_sum"] + (speed - s["speed_command"]).abs()
        task_state = {**self.course.keep(s), "speed_command": s["speed_command"]}
        task_state.update(vel_smooth=smooth, odometer=odometer, speed_error_sum=error_sum)
        free = (~collided).to(self.dtype)
        mean_error = error_sum / s["step"].to(self.dtype)
        success = ~collided & ~failed & (mean_error < k(cfg.success_speed_error))
        metrics = {"collision": collided, "collision_free": free, "success": success.to(self.dtype),
                   "speed_error": mean_error, "distance": odometer}
        return TaskStep(terms, task_state, collided, metrics)

    def failure(self, s: State) -> tuple[Tensor, Tensor]:
        diverged = self.robot_model.diverged(s)
        out = (s["pos"].detach().abs() > const(self.cfg.arena_half_extent, s["pos"])).any(-1) & ~diverged
        return diverged, out

    def limits(self) -> str:
        return f"finite state, |x|, |y| <= arena_half_extent = {self.cfg.arena_half_extent:g} m"

    def controller_inputs(self, obs: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """For the reactive controller: depth ``(N, H, W)``, m, and the speed command ``(N,)``."""
        return self.depth_from_obs(obs), obs["state"][:, 2]

    # ------------------------------------------------------------------ drawing
    def markers(self) -> tuple[Marker, ...]:
        return self.course.markers()

    def _row_state(self, row) -> State:
        return {k: torch.as_tensor(np.asarray(v)).unsqueeze(0).to(self.device) for k, v in row.items()}

    def draw_env(self, canvas, row, colour) -> None:
        """The env's obstacles (footprints), its camera's rays along the horizon row and the nose."""
        self.course.draw_obstacles(canvas, row)
        if not (np.all(np.isfinite(row["pos"])) and np.isfinite(row["yaw"])):
            return
        state = self._row_state(row)
        with torch.no_grad():
            depth = self.depth(state)[0]
            _, d = self.camera.world_rays(torch.cat([state["pos"], torch.zeros_like(state["pos"][:, :1])], -1),
                                          state["yaw"])
        p = np.array([row["pos"][0], row["pos"][1], 0.02])
        nose = None
        if self.cfg.nose_length > 0:
            nose = p + self.cfg.nose_length * np.array([np.cos(row["yaw"]), np.sin(row["yaw"]), 0.0])
        self.course.draw_view(canvas, depth, p, d[0], nose, colour)

    def inset(self, state: State) -> Tensor:
        """The depth image, white near and black at ``max_range``."""
        return self.course.inset(self.depth(state))
