"""Depth-camera local navigation (residual paper §IV): track a commanded forward speed
among random static obstacles, seeing them only through a forward depth camera."""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from ...contract import Marker, RewardTerm, State, StateField, Task, TaskStep
from ...sensors.depth_camera import DepthCamera, DepthCameraConfig
from ...sensors.noise import hashed_normal
from ...worlds.obstacles import ObstacleWorld, WorldSamplerConfig, sample_worlds, signed_distance, world_state_fields

Range = tuple[float, float]
Count = tuple[int, int]


@dataclass(frozen=True)
class NavConfig:
    """Navigation options (``task_options`` of ``DiffNav-PointMass-v0``).

    Worlds are resampled per env at every episode start (see
    :class:`~diffenvs.worlds.obstacles.WorldSamplerConfig`); the camera is forward, level
    and on the robot (see :class:`~diffenvs.sensors.depth_camera.DepthCameraConfig`).

    Attributes:
        region_half_extent: obstacles are spread over the square ``±this`` m around the start.
        arena_half_extent: leaving the square ``±this`` m ends the episode (out of bounds,
            not a collision); beyond the robot's reach in an episode by default.
        cylinders: ``(min, max)`` count per env of vertical, unbounded cylinders.
        cylinder_radius: their radius range, m.
        spheres: ``(min, max)`` count of spheres per env.
        sphere_radius: their radius range, m.
        sphere_z: the height range of their centres, m.
        boxes: ``(min, max)`` count of boxes standing on the ground per env.
        box_size: ``((lx, ly, lz) minimum, (lx, ly, lz) maximum)`` box edge lengths, m.
        ground: the ground plane is part of the world (seen by the camera; never a collision).
        keep_out: radius of the obstacle-free disc around the start, m.
        speed_command: the commanded forward speed is uniform in this range per episode, m/s.
        image_width: depth image width, pixels.
        image_height: depth image height, pixels.
        hfov_deg: horizontal field of view, degrees.
        max_range: depth of rays that hit nothing (or farther), m.
        near: the nearest depth reported, m.
        camera_z: camera height above the ground, m.
        depth_noise: σ of unbiased Gaussian depth noise, m (0: none). The noise is a function
            of the env state (a per-episode key and the step), so replays and ``set_state``
            see the same images.
        differentiable_depth: let gradients flow through the rendered depth into the
            robot's pose (the paper's "differentiable rendering"; off by default).
        depth_obs: ``"inverse"``: the image holds ``1 / depth`` (1/m; near obstacles stand
            out); ``"metric"``: depth in m.
        velocity_smoothing: α of the smoothed velocity ``y_t = α v_t + (1 - α) y_{t-1}``,
            ``y_0 = 0``, of the forward speed and the heading rate (observed, and tracked
            by the speed reward).
        nose_length: the Pinocchio trick: the obstacle penalties are evaluated at a virtual
            nose this far ahead of the robot's centre along its heading, m (0: the body).
        inflation: obstacles are grown by this much in the penalties, m (the contrasting
            option to the nose).
        k_speed: weight of the smooth-L1 error of the smoothed forward speed.
        speed_beta: where that smooth-L1 turns from quadratic (below) to linear, m/s; a
            small value keeps the pull towards the command strong near it.
        k_clearance: weight of ``relu(clearance_band - c)^2`` on the penalty point's clearance ``c``, m.
        clearance_band: clearance below which that penalty starts, m.
        k_collision: weight of ``softplus(-collision_sharpness * c)``.
        collision_sharpness: 1/m, how sharp that penalty rises at contact.
        k_turn: weight of the squared heading rate (discourages circling in free space).
        crash_penalty: paid once when the body touches an obstacle (ends the episode).
        success_speed_error: an episode succeeds when it is collision-free, stays in the
            arena, and its mean speed error ``|v - command|`` is below this, m/s.
    """

    region_half_extent: float = 12.0
    arena_half_extent: float = 25.0
    cylinders: Count = (20, 28)
    cylinder_radius: Range = (0.2, 0.6)
    spheres: Count = (0, 4)
    sphere_radius: Range = (0.2, 0.5)
    sphere_z: Range = (0.2, 0.8)
    boxes: Count = (0, 4)
    box_size: tuple[tuple[float, float, float], tuple[float, float, float]] = ((0.3, 0.3, 0.2), (1.5, 1.5, 1.0))
    ground: bool = True
    keep_out: float = 1.5
    speed_command: Range = (0.5, 1.5)
    image_width: int = 16
    image_height: int = 12
    hfov_deg: float = 90.0
    max_range: float = 10.0
    near: float = 0.1
    camera_z: float = 0.25
    depth_noise: float = 0.0
    differentiable_depth: bool = False
    depth_obs: str = "inverse"
    velocity_smoothing: float = 0.2
    nose_length: float = 1.0
    inflation: float = 0.0
    k_speed: float = 1.0
    speed_beta: float = 1.0
    k_clearance: float = 2.0
    clearance_band: float = 0.5
    k_collision: float = 1.0
    collision_sharpness: float = 32.0
    k_turn: float = 0.05
    crash_penalty: float = 10.0
    success_speed_error: float = 0.2

    def __post_init__(self):
        if self.depth_obs not in ("inverse", "metric"):
            raise ValueError(f"depth_obs must be 'inverse' or 'metric', got {self.depth_obs!r}")
        if not 0 < self.velocity_smoothing <= 1:
            raise ValueError(f"velocity_smoothing (α) must be in (0, 1], got {self.velocity_smoothing!r}")
        for name in ("nose_length", "inflation", "depth_noise", "keep_out", "speed_beta"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not self.region_half_extent > self.keep_out:
            raise ValueError("region_half_extent must exceed keep_out")
        lo, hi = self.speed_command
        if not lo <= hi:
            raise ValueError(f"speed_command must be (low, high) with low <= high, got {self.speed_command!r}")
        DepthCameraConfig(self.image_width, self.image_height, self.hfov_deg, self.max_range, self.near)


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
        RewardTerm("clearance", True, "-k_clearance * relu(clearance_band - c)^2, c: clearance of the nose"),
        RewardTerm("collision", True, "-k_collision * softplus(-collision_sharpness * c)"),
        RewardTerm("turn", True, "-k_turn * heading_rate^2"),
        RewardTerm("crash", False, "-crash_penalty when the body touches an obstacle (ends the episode)"),
    )
    metric_names = ("collision", "collision_free", "success", "speed_error", "distance")
    main_metric = ("collision_free", False)
    view = {"azimuth": -90.0, "elevation": 89.0}  # top-down, world x to the right
    costly_observation = True  # observe() renders the depth image

    def __init__(self, options, **kw):
        super().__init__(options, **kw)
        cfg = self.cfg
        self.world_cfg = WorldSamplerConfig(
            region=(-cfg.region_half_extent, cfg.region_half_extent, -cfg.region_half_extent, cfg.region_half_extent),
            cylinders=tuple(cfg.cylinders), cylinder_radius=tuple(cfg.cylinder_radius), spheres=tuple(cfg.spheres),
            sphere_radius=tuple(cfg.sphere_radius), sphere_z=tuple(cfg.sphere_z), boxes=tuple(cfg.boxes),
            box_size=tuple(tuple(s) for s in cfg.box_size), ground=cfg.ground, keep_out=cfg.keep_out)
        self.counts = (max(cfg.cylinders), max(cfg.spheres), max(cfg.boxes))
        self.camera = DepthCamera(DepthCameraConfig(cfg.image_width, cfg.image_height, cfg.hfov_deg, cfg.max_range,
                                                    cfg.near, cfg.depth_noise, cfg.differentiable_depth))
        self.state_fields = {
            **world_state_fields(self.counts),
            "speed_command": StateField((), "float", "commanded forward speed, m/s"),
            "vel_smooth": StateField((2,), "float", "smoothed (forward speed, heading rate), m/s and rad/s"),
            "noise_key": StateField((), "int", "per-episode key of the depth noise"),
            "odometer": StateField((), "float", "distance travelled in the episode, m"),
            "speed_error_sum": StateField((), "float", "sum over the episode of |forward speed - command|, m/s"),
        }
        self.image_shape = (cfg.image_height, cfg.image_width)

    # ------------------------------------------------------------------ spaces
    @property
    def observation_space(self) -> gym.Space:
        cfg = self.cfg
        lo, hi = (1.0 / cfg.max_range, 1.0 / cfg.near) if cfg.depth_obs == "inverse" else (cfg.near, cfg.max_range)
        return gym.spaces.Dict({
            "depth": gym.spaces.Box(np.float32(lo), np.float32(hi), self.image_shape, np.float32),
            "state": gym.spaces.Box(-np.inf, np.inf, (3,), np.float32),
        })

    # ------------------------------------------------------------------ episodes
    def sample_initial(self, n: int, gen: torch.Generator) -> State:
        f = dict(dtype=self.dtype, device=self.device)
        pos = torch.zeros(n, 2, **f)
        u = torch.rand(n, 2, generator=gen, **f)
        lo, hi = self.cfg.speed_command
        world = sample_worlds(n, gen, self.world_cfg, starts=pos, dtype=self.dtype, device=self.device)
        zero = torch.zeros(n, **f)
        return {
            "pos": pos, "yaw": math.pi * (2.0 * u[:, 0] - 1.0), "speed": zero, "yaw_rate": zero,
            **world.to_state(),
            "speed_command": lo + (hi - lo) * u[:, 1],
            "vel_smooth": torch.zeros(n, 2, **f),
            "noise_key": torch.randint(0, 2**62, (n,), generator=gen, device=self.device),
            "odometer": zero, "speed_error_sum": zero,
        }

    def world(self, state: State) -> ObstacleWorld:
        return ObstacleWorld.from_state(state)

    def depth(self, state: State) -> Tensor:
        """The camera's depth image ``(N, H, W)``, m (noisy when ``depth_noise > 0``)."""
        cfg = self.cfg
        pos = state["pos"]
        cam = torch.cat([pos, torch.full_like(pos[:, :1], cfg.camera_z)], -1)
        noise = hashed_normal(state["noise_key"], state["step"], self.image_shape, self.dtype) \
            if cfg.depth_noise > 0 else None
        return self.camera.render(self.world(state), cam, state["yaw"], noise=noise)

    def observe(self, state: State) -> dict[str, Tensor]:
        depth = self.depth(state)
        image = depth.reciprocal() if self.cfg.depth_obs == "inverse" else depth
        return {"depth": image, "state": torch.cat([state["vel_smooth"], state["speed_command"].unsqueeze(-1)], -1)}

    def depth_from_obs(self, obs: dict[str, Tensor]) -> Tensor:
        """Depth in m, ``(N, H, W)``, from an observation (either encoding)."""
        return obs["depth"].reciprocal() if self.cfg.depth_obs == "inverse" else obs["depth"]

    # ------------------------------------------------------------------ step
    def clearances(self, state: State) -> tuple[Tensor, Tensor]:
        """``(body, penalty point)`` clearances, m, ``(N,)`` each: the signed distance from the
        body disc (at its height) and from the nose (``nose_length`` ahead, obstacles grown
        by ``inflation``) to the nearest obstacle surface (``+inf`` with none; ground excluded)."""
        cfg, radius = self.cfg, self.robot_model.cfg.radius
        pos = state["pos"]
        nose = pos + cfg.nose_length * self.robot_model.heading(state)
        z = torch.full_like(pos[:, :1], radius)
        points = torch.stack([torch.cat([pos, z], -1), torch.cat([nose, z], -1)], 1)
        sd = signed_distance(self.world(state), points, include_ground=False) - radius
        return sd[:, 0], sd[:, 1] - cfg.inflation

    def evaluate(self, s: State, failed: Tensor) -> TaskStep:
        cfg = self.cfg
        a = cfg.velocity_smoothing
        vel = torch.stack([s["speed"], s["yaw_rate"]], -1)
        smooth = a * vel + (1.0 - a) * s["vel_smooth"]
        body, point = self.clearances(s)
        collided = (body.detach() <= 0) & ~failed
        terms = {
            "speed": -cfg.k_speed * torch.nn.functional.smooth_l1_loss(smooth[:, 0], s["speed_command"],
                                                                       reduction="none", beta=cfg.speed_beta),
            "clearance": -cfg.k_clearance * torch.relu(cfg.clearance_band - point).square(),
            "collision": -cfg.k_collision * torch.nn.functional.softplus(-cfg.collision_sharpness * point),
            "turn": -cfg.k_turn * s["yaw_rate"].square(),
            "crash": -cfg.crash_penalty * collided.to(self.dtype),
        }
        speed = s["speed"].detach()
        odometer = s["odometer"] + self.robot_model.dt * speed.abs()
        error_sum = s["speed_error_sum"] + (speed - s["speed_command"]).abs()
        task_state = {k: s[k] for k in self.state_fields if k.startswith("world_") or k in ("speed_command",
                                                                                             "noise_key")}
        task_state.update(vel_smooth=smooth, odometer=odometer, speed_error_sum=error_sum)
        free = (~collided).to(self.dtype)
        mean_error = error_sum / s["step"].to(self.dtype)
        success = ~collided & ~failed & (mean_error < cfg.success_speed_error)
        metrics = {"collision": collided, "collision_free": free, "success": success.to(self.dtype),
                   "speed_error": mean_error, "distance": odometer}
        return TaskStep(terms, task_state, collided, metrics)

    def failure(self, s: State) -> tuple[Tensor, Tensor]:
        diverged = self.robot_model.diverged(s)
        out = (s["pos"].detach().abs() > self.cfg.arena_half_extent).any(-1) & ~diverged
        return diverged, out

    def limits(self) -> str:
        return f"finite state, |x|, |y| <= arena_half_extent = {self.cfg.arena_half_extent:g} m"

    def controller_inputs(self, obs: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """For the reactive controller: depth ``(N, H, W)``, m, and the speed command ``(N,)``."""
        return self.depth_from_obs(obs), obs["state"][:, 2]

    # ------------------------------------------------------------------ drawing
    def markers(self) -> tuple[Marker, ...]:
        h = self.cfg.region_half_extent
        square = np.array([[-h, -h, 0.0], [h, -h, 0.0], [h, h, 0.0], [-h, h, 0.0], [-h, -h, 0.0]])
        return (Marker("path", square, 0.0, "obstacle region"),)

    def _row_state(self, row) -> State:
        return {k: torch.as_tensor(np.asarray(v)).unsqueeze(0).to(self.device) for k, v in row.items()}

    def draw_env(self, canvas, row, colour) -> None:
        """The env's obstacles (footprints), its camera's rays along the horizon row and the nose."""
        from ...render import BODY, blend

        flat = (np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
        fill, rim = (150, 150, 160, 200), (70, 70, 80)
        for xy, r, ok in zip(row["world_cyl_xy"], row["world_cyl_radius"], row["world_cyl_valid"]):
            if ok:
                canvas.disc(np.array([xy[0], xy[1], 0.01]), float(r), *flat, fill=fill, outline=rim, width=1.0)
        for c, r, ok in zip(row["world_sph_center"], row["world_sph_radius"], row["world_sph_valid"]):
            if ok:
                canvas.disc(np.array([c[0], c[1], 0.01]), float(r), *flat, fill=(175, 160, 150, 200), outline=rim,
                            width=1.0)
        for lo, hi, ok in zip(row["world_box_min"], row["world_box_max"], row["world_box_valid"]):
            if ok:
                canvas.polygon([[lo[0], lo[1], 0.01], [hi[0], lo[1], 0.01], [hi[0], hi[1], 0.01],
                                [lo[0], hi[1], 0.01]], fill=(160, 150, 170, 200), outline=rim, width=1.0)
        if not (np.all(np.isfinite(row["pos"])) and np.isfinite(row["yaw"])):
            return
        state = self._row_state(row)
        with torch.no_grad():
            depth = self.depth(state)[0]
            o, d = self.camera.world_rays(torch.cat([state["pos"], torch.zeros_like(state["pos"][:, :1])], -1),
                                          state["yaw"])
        h, w = self.image_shape
        r = (h - 1) // 2  # the row at or just above the horizon
        middle = depth[r].cpu().double().numpy()
        dirs = d[0].reshape(h, w, 3)[r].cpu().double().numpy()
        p = np.array([row["pos"][0], row["pos"][1], 0.02])
        ray_colour = (*blend(colour, (255, 255, 255), 0.3), 110)
        for j in range(w):
            canvas.polyline([p, p + middle[j] * dirs[j] * np.array([1.0, 1.0, 0.0])], ray_colour, 1.0)
        if self.cfg.nose_length > 0:
            heading = np.array([np.cos(row["yaw"]), np.sin(row["yaw"]), 0.0])
            nose = p + self.cfg.nose_length * heading
            canvas.polyline([p, nose], BODY, 1.5)
            canvas.dot(nose, 3.5, (240, 120, 40), outline=BODY, width=1.0)

    def inset(self, state: State) -> Tensor:
        """The depth image, white near and black at ``max_range``."""
        cfg = self.cfg
        return (1.0 - (self.depth(state) - cfg.near) / (cfg.max_range - cfg.near)).clamp(0.0, 1.0)
