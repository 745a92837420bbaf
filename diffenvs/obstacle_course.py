"""Obstacle courses seen through a depth camera: what every local-navigation task shares.

A task that puts a robot among random static obstacles (the residual paper's local
navigation, §IV, on the planar robot and on the quadruped) combines

* a world of obstacles resampled per env at every episode start
  (:func:`diffenvs.worlds.sample_worlds`), kept in the env state;
* a depth camera on the robot (:class:`diffenvs.sensors.DepthCamera`) whose image the
  policy observes, optionally with state-keyed Gaussian noise;
* obstacle penalties evaluated at a point ahead of the robot (the Pinocchio nose) or with
  the obstacles grown (inflation), and a collision *event* (a penalty that ends the
  episode): the obstacles are not colliders of the robot's physics;
* drawing the obstacles and the camera's view.

:class:`CourseConfig` holds those options (task configs inherit it) and
:class:`ObstacleCourse` implements them for a task, which places the camera and the
penalty points on its robot.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from .consts import const, const_like
from .contract import Marker, State, StateField
from .sensors.depth_camera import DepthCamera, DepthCameraConfig
from .sensors.noise import hashed_normal
from .worlds.obstacles import ObstacleWorld, WorldSamplerConfig, sample_worlds, signed_distance, world_state_fields

Range = tuple[float, float]
Count = tuple[int, int]


@dataclass(frozen=True)
class CourseConfig:
    """Obstacle, camera and penalty options of a local-navigation task.

    Worlds are resampled per env at every episode start (see
    :class:`~diffenvs.worlds.obstacles.WorldSamplerConfig`).

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
        image_width: depth image width, pixels.
        image_height: depth image height, pixels.
        hfov_deg: horizontal field of view, degrees.
        max_range: depth of rays that hit nothing (or farther), m.
        near: the nearest depth reported, m.
        depth_noise: σ of unbiased Gaussian depth noise, m (0: none). The noise is a function
            of the env state (a per-episode key and the step), so replays and ``set_state``
            see the same images.
        differentiable_depth: let gradients flow through the rendered depth into the
            robot's pose (the paper's "differentiable rendering"; off by default).
        depth_obs: ``"inverse"``: the image holds ``1 / depth`` (1/m; near obstacles stand
            out); ``"metric"``: depth in m.
        nose_length: the Pinocchio trick: the obstacle penalties are evaluated at a virtual
            nose this far ahead of the robot's centre along its heading, m (0: the body).
        inflation: obstacles are grown by this much in the penalties, m (the contrasting
            option to the nose).
        k_clearance: weight of ``relu(clearance_band - c)^2`` on the penalty point's clearance ``c``, m.
        clearance_band: clearance below which that penalty starts, m.
        k_collision: weight of ``softplus(-collision_sharpness * c)``.
        collision_sharpness: 1/m, how sharp that penalty rises at contact.
        crash_penalty: paid once when the body touches an obstacle (ends the episode).
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
    image_width: int = 16
    image_height: int = 12
    hfov_deg: float = 90.0
    max_range: float = 10.0
    near: float = 0.1
    depth_noise: float = 0.0
    differentiable_depth: bool = False
    depth_obs: str = "inverse"
    nose_length: float = 1.0
    inflation: float = 0.0
    k_clearance: float = 2.0
    clearance_band: float = 0.5
    k_collision: float = 1.0
    collision_sharpness: float = 32.0
    crash_penalty: float = 10.0

    def __post_init__(self):
        if self.depth_obs not in ("inverse", "metric"):
            raise ValueError(f"depth_obs must be 'inverse' or 'metric', got {self.depth_obs!r}")
        for name in ("nose_length", "inflation", "depth_noise", "keep_out"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not self.region_half_extent > self.keep_out:
            raise ValueError("region_half_extent must exceed keep_out")
        DepthCameraConfig(self.image_width, self.image_height, self.hfov_deg, self.max_range, self.near)


#: The obstacle reward terms (:meth:`ObstacleCourse.penalty_terms`), for a task's ``reward_terms``.
COURSE_TERMS = (
    ("clearance", True, "-k_clearance * relu(clearance_band - c)^2, c: clearance of the nose"),
    ("collision", True, "-k_collision * softplus(-collision_sharpness * c)"),
    ("crash", False, "-crash_penalty when the body touches an obstacle (ends the episode)"),
)


class ObstacleCourse:
    """The obstacles, depth camera and obstacle penalties of a task with a :class:`CourseConfig`.

    The task decides where the camera is (:meth:`depth` takes its pose) and where the body
    and the nose are (:meth:`clearances` takes the points); this class owns the world in
    the state (fields ``world_*`` and ``noise_key``), the image encoding and the terms.
    """

    def __init__(self, cfg: CourseConfig):
        self.cfg = cfg
        self.world_cfg = WorldSamplerConfig(
            region=(-cfg.region_half_extent, cfg.region_half_extent, -cfg.region_half_extent, cfg.region_half_extent),
            cylinders=tuple(cfg.cylinders), cylinder_radius=tuple(cfg.cylinder_radius), spheres=tuple(cfg.spheres),
            sphere_radius=tuple(cfg.sphere_radius), sphere_z=tuple(cfg.sphere_z), boxes=tuple(cfg.boxes),
            box_size=tuple(tuple(s) for s in cfg.box_size), ground=cfg.ground, keep_out=cfg.keep_out)
        self.counts = (max(cfg.cylinders), max(cfg.spheres), max(cfg.boxes))
        self.camera = DepthCamera(DepthCameraConfig(cfg.image_width, cfg.image_height, cfg.hfov_deg, cfg.max_range,
                                                    cfg.near, cfg.depth_noise, cfg.differentiable_depth))
        self.image_shape = (cfg.image_height, cfg.image_width)
        #: The state fields the course keeps (a task adds them to its own).
        self.state_fields = {
            **world_state_fields(self.counts),
            "noise_key": StateField((), "int", "per-episode key of the depth noise"),
        }

    # ------------------------------------------------------------------ episodes and worlds
    def sample(self, n: int, gen: torch.Generator, starts: Tensor) -> State:
        """Fresh worlds around the ``(N, 2)`` start positions, and noise keys (in this order
        from ``gen``)."""
        world = sample_worlds(n, gen, self.world_cfg, starts=starts, dtype=starts.dtype, device=starts.device)
        return {**world.to_state(),
                "noise_key": torch.randint(0, 2**62, (n,), generator=gen, device=starts.device)}

    def keep(self, state: State) -> State:
        """The course's fields of ``state``, unchanged (for a task's next ``task_state``)."""
        return {k: state[k] for k in self.state_fields}

    @staticmethod
    def world(state: State) -> ObstacleWorld:
        return ObstacleWorld.from_state(state)

    # ------------------------------------------------------------------ the camera
    def depth_space(self) -> gym.spaces.Box:
        """The observation space of the image (see ``depth_obs``)."""
        cfg = self.cfg
        lo, hi = (1.0 / cfg.max_range, 1.0 / cfg.near) if cfg.depth_obs == "inverse" else (cfg.near, cfg.max_range)
        return gym.spaces.Box(np.float32(lo), np.float32(hi), self.image_shape, np.float32)

    def depth(self, state: State, position: Tensor, orientation: Tensor) -> Tensor:
        """The camera's depth image ``(N, H, W)``, m (noisy when ``depth_noise > 0``), from a
        camera at ``position`` ``(N, 3)`` with ``orientation`` (``(N,)`` yaw of a level
        camera, or ``(N, 3, 3)`` camera -> world; camera x forward, z up)."""
        noise = hashed_normal(state["noise_key"], state["step"], self.image_shape, position.dtype) \
            if self.cfg.depth_noise > 0 else None
        return self.camera.render(self.world(state), position, orientation, noise=noise)

    def image(self, depth: Tensor) -> Tensor:
        """The observed image of a depth image (``1 / depth`` or depth, see ``depth_obs``)."""
        return depth.reciprocal() if self.cfg.depth_obs == "inverse" else depth

    def depth_from_image(self, image: Tensor) -> Tensor:
        """Depth in m from an observed image (either encoding)."""
        return image.reciprocal() if self.cfg.depth_obs == "inverse" else image

    def inset(self, depth: Tensor) -> Tensor:
        """A depth image for the renderer's inset: white near, black at ``max_range``."""
        cfg = self.cfg
        return (1.0 - (depth - cfg.near) / (cfg.max_range - cfg.near)).clamp(0.0, 1.0)

    # ------------------------------------------------------------------ penalties
    def clearances(self, state: State, body: Tensor, nose: Tensor, radius: float) -> tuple[Tensor, Tensor]:
        """``(body, penalty point)`` clearances, m, ``(N,)`` each: the signed distance from a
        sphere of ``radius`` at ``body`` ``(N, 3)`` and at ``nose`` ``(N, 3)`` (obstacles grown
        by ``inflation``) to the nearest obstacle surface (``+inf`` with none; ground excluded)."""
        points = torch.stack([body, nose], 1)
        sd = signed_distance(self.world(state), points, include_ground=False)
        sd = sd - const(radius, sd)
        return sd[:, 0], sd[:, 1] - const(self.cfg.inflation, sd)

    def penalty_terms(self, point: Tensor, collided: Tensor) -> dict[str, Tensor]:
        """The obstacle reward terms (:data:`COURSE_TERMS`) of the penalty point's clearance
        ``point`` and the collision events ``collided`` (bool)."""
        cfg = self.cfg

        k = const_like(point)  # the constants as tensors of its dtype: no per-call dtype copies

        return {
            "clearance": k(-cfg.k_clearance) * torch.relu(k(cfg.clearance_band) - point).square(),
            "collision": k(-cfg.k_collision) * torch.nn.functional.softplus(k(-cfg.collision_sharpness) * point),
            "crash": k(-cfg.crash_penalty) * collided.to(point.dtype),
        }

    # ------------------------------------------------------------------ drawing
    def markers(self) -> tuple[Marker, ...]:
        h = self.cfg.region_half_extent
        square = np.array([[-h, -h, 0.0], [h, -h, 0.0], [h, h, 0.0], [-h, h, 0.0], [-h, -h, 0.0]])
        return (Marker("path", square, 0.0, "obstacle region"),)

    @staticmethod
    def draw_obstacles(canvas, row) -> None:
        """One env's obstacles, as footprints on the ground."""
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

    def draw_view(self, canvas, depth: Tensor, origin: np.ndarray, directions: Tensor, nose: np.ndarray | None,
                  colour) -> None:
        """The camera's rays along the image row at or just above the horizon, drawn on the
        ground from ``origin`` (``depth`` ``(H, W)`` and ``directions`` ``(H * W, 3)`` of one
        env), and the nose (``None``: none)."""
        from .render import BODY, blend

        h, w = self.image_shape
        r = (h - 1) // 2
        middle = depth[r].cpu().double().numpy()
        dirs = directions.reshape(h, w, 3)[r].cpu().double().numpy()
        ray_colour = (*blend(colour, (255, 255, 255), 0.3), 110)
        for j in range(w):
            canvas.polyline([origin, origin + middle[j] * dirs[j] * np.array([1.0, 1.0, 0.0])], ray_colour, 1.0)
        if nose is not None:
            canvas.polyline([origin, nose], BODY, 1.5)
            canvas.dot(nose, 3.5, (240, 120, 40), outline=BODY, width=1.0)
