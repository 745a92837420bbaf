"""Pillow renderer of the quadrotor environments (``render_mode="rgb_array"``).

:class:`Renderer` draws a 3D perspective picture of up to ``max_drones`` drones (the
first rows of the batch), their recent trajectories and the task's targets, with
``PIL.ImageDraw`` only, so that a frame costs a few milliseconds.
:func:`save_animation` writes frames to a GIF (or MP4 with ``imageio[ffmpeg]``) and
:func:`record_episode` flies a policy and saves the animation in one call.

Camera
------
A fixed pinhole camera, chosen once per task from its geometry. The renderer collects
the points that must stay in view: a few hundred episode starts drawn from the task's
own ``sample_initial`` (with a private generator, so the env's random stream is not
touched) and the task's markers (hover target, tracking reference curve, landing pad,
racing gates), together with their projections onto the ground. The camera looks at
the centre of their padded bounding box from a fixed direction, ``azimuth`` degrees
around the world ``z`` axis (measured from ``+x``; the default -105 puts the camera on
the ``-y`` side, so world ``x`` points roughly to the right of the picture) and
``elevation`` degrees above the horizon (default 40). Its distance is the smallest at which every
corner of the box projects inside the picture (a closed form for a pinhole camera), and
the aim point is then shifted so the box is centred. The world is ``z`` up; the ground
is the plane ``z = arena_low[2]`` of the task.

Drones are drawn ``drone_scale`` times their real size (real quadrotors are a few
pixels wide at this distance): an X of arms through the body, and four rotor discs
oriented by the attitude quaternion; the two front rotors (body ``+x``) are in the
drone's colour, the rear ones darker. A translucent shadow and a thin plumb line tie
every drone to the ground. Lines are antialiased by drawing at ``supersample`` times the
resolution and downsampling.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .fileio import atomic_path

_STEP_COL = 17  # column of the episode step counter in the env state
_RESAMPLE = getattr(Image, "Resampling", Image).BOX
_NEAR = 0.05  # near clipping plane, m

# Colours (RGB).
_SKY_TOP = (170, 200, 232)
_SKY_BOTTOM = (232, 240, 248)
_GROUND = (222, 229, 214)
_GRID = (196, 206, 188)
_GRID_MAJOR = (170, 182, 162)
_TEXT = (30, 34, 40)
_TARGET = (220, 40, 60)
_GATE = (235, 140, 40)
_GATE_NEXT = (30, 185, 90)
_PAD = (70, 74, 82)
_BODY = (40, 42, 50)
_AXES = ((210, 60, 60), (60, 160, 60), (60, 90, 210))

#: Drone colours, one per shown row (cycled beyond 16).
PALETTE = (
    (31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207),
    (227, 119, 194), (140, 86, 75), (188, 189, 34), (127, 127, 127), (57, 59, 121), (173, 73, 74),
    (99, 121, 57), (123, 65, 115), (140, 109, 49), (82, 84, 163),
)

# Rotor layout of diffenvs.core.params (X frame): (sx, sy) in units of arm / sqrt(2).
_ROTOR_XY = np.array([(1.0, -1.0), (-1.0, 1.0), (1.0, 1.0), (-1.0, -1.0)]) / math.sqrt(2.0)
_CIRCLE = np.stack([np.cos(np.linspace(0, 2 * np.pi, 17)[:-1]), np.sin(np.linspace(0, 2 * np.pi, 17)[:-1])], -1)


# ---------------------------------------------------------------------- camera
@dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera in world coordinates (``z`` up).

    Attributes:
        eye: camera position, m.
        right: camera x axis (image right) in the world frame, unit vector.
        up: camera y axis (image up) in the world frame, unit vector.
        forward: viewing direction in the world frame, unit vector.
        focal: focal length, pixels.
        width: image width, pixels.
        height: image height, pixels.
    """

    eye: np.ndarray
    right: np.ndarray
    up: np.ndarray
    forward: np.ndarray
    focal: float
    width: int
    height: int

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates ``(..., 2)`` and depths ``(...,)`` of world points ``(..., 3)``."""
        rel = np.asarray(points, dtype=np.float64) - self.eye
        depth = rel @ self.forward
        z = np.maximum(depth, 1e-9)
        u = 0.5 * self.width + self.focal * (rel @ self.right) / z
        v = 0.5 * self.height - self.focal * (rel @ self.up) / z
        return np.stack([u, v], -1), depth

    @functools.cached_property
    def clip_planes(self) -> tuple[np.ndarray, np.ndarray]:
        """The view frustum (near plane, four sides a quarter picture outside) as ``n . (p - eye) + b >= 0``."""
        f, hw, hh = self.focal, 0.75 * self.width, 0.75 * self.height
        r, u, fw = self.right, self.up, self.forward
        normals = np.stack([fw, f * r + hw * fw, -f * r + hw * fw, -f * u + hh * fw, f * u + hh * fw])
        norms = np.linalg.norm(normals, axis=1)
        offsets = np.array([-_NEAR, 0.0, 0.0, 0.0, 0.0])
        return normals / norms[:, None], offsets / norms

    def scaled(self, factor: int) -> Camera:
        """The same view rendered at ``factor`` times the resolution."""
        return Camera(self.eye, self.right, self.up, self.forward, self.focal * factor, self.width * factor,
                      self.height * factor)

    @staticmethod
    def fit(points: np.ndarray, width: int, height: int, *, azimuth: float = -105.0, elevation: float = 40.0,
            fov: float = 40.0, fill: float = 0.92) -> Camera:
        """The camera looking from ``(azimuth, elevation)`` (degrees) that frames ``points``.

        ``fov`` is the vertical field of view (degrees); the points fill ``fill`` of the
        picture along its tighter direction.
        """
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        az, el = math.radians(azimuth), math.radians(elevation)
        back = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
        forward = -back
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        focal = 0.5 * height / math.tan(math.radians(fov) / 2.0)
        half_w, half_h = 0.5 * width * fill, 0.5 * height * fill
        target = 0.5 * (pts.min(0) + pts.max(0))

        def distance(target):
            rel = pts - target
            need = np.maximum(np.abs(rel @ right) * focal / half_w, np.abs(rel @ up) * focal / half_h)
            return float(np.max(need - rel @ forward)) + _NEAR

        for _ in range(4):  # centre the projected points (perspective shifts them)
            dist = distance(target)
            cam = Camera(target + dist * back, right, up, forward, focal, width, height)
            uv, depth = cam.project(pts)
            du = 0.5 * (uv[:, 0].min() + uv[:, 0].max()) - 0.5 * width
            dv = 0.5 * (uv[:, 1].min() + uv[:, 1].max()) - 0.5 * height
            z = float(np.median(depth))
            target = target + (right * du - up * dv) * z / focal
        dist = distance(target)
        return Camera(target + dist * back, right, up, forward, focal, width, height)


def _clip_polygon(points: np.ndarray, cam: Camera) -> np.ndarray:
    """Clip a convex or simple 3D polygon ``(K, 3)`` to the view frustum (Sutherland-Hodgman)."""
    normals, offsets = cam.clip_planes
    values = (points - cam.eye) @ normals.T + offsets
    if np.all(values >= 0):
        return points
    for n, b in zip(normals, offsets):
        if len(points) == 0:
            break
        d = (points - cam.eye) @ n + b
        out = []
        for i in range(len(points)):
            j = (i + 1) % len(points)
            if d[i] >= 0:
                out.append(points[i])
            if (d[i] >= 0) != (d[j] >= 0):
                out.append(points[i] + (points[j] - points[i]) * (d[i] / (d[i] - d[j])))
        points = np.array(out).reshape(-1, 3)
    return points


def _clip_polyline(points: np.ndarray, cam: Camera) -> list[np.ndarray]:
    """The pieces of a 3D polyline ``(K, 3)`` inside the view frustum (non-finite points cut it)."""
    normals, offsets = cam.clip_planes
    values = (points - cam.eye) @ normals.T + offsets  # (K, 5)
    if np.all(values >= 0):  # everything visible (also false for NaN)
        return [points] if len(points) >= 2 else []
    pieces, current = [], []
    for i in range(len(points) - 1):
        va, vb = values[i], values[i + 1]
        if not (np.all(np.isfinite(va)) and np.all(np.isfinite(vb))) or np.any((va < 0) & (vb < 0)):
            t0, t1 = 1.0, 0.0
        else:  # Liang-Barsky: the part of the segment on the inner side of every plane
            t0, t1 = 0.0, 1.0
            cross = (va < 0) != (vb < 0)
            t = va[cross] / (va[cross] - vb[cross])
            t0 = max([t0, *t[va[cross] < 0]])
            t1 = min([t1, *t[vb[cross] < 0]])
        if t0 >= t1:
            if len(current) >= 2:
                pieces.append(np.array(current))
            current = []
            continue
        a, b = points[i], points[i + 1]
        if t0 > 0.0 or not current:
            if len(current) >= 2:
                pieces.append(np.array(current))
            current = [a + (b - a) * t0]
        current.append(a + (b - a) * t1)
        if t1 < 1.0:
            pieces.append(np.array(current))
            current = []
    if len(current) >= 2:
        pieces.append(np.array(current))
    return pieces


def _blend(colour: Sequence[int], other: Sequence[int], t: float) -> tuple[int, int, int]:
    """``colour`` moved a fraction ``t`` toward ``other``."""
    return tuple(int(round(c + (o - c) * t)) for c, o in zip(colour, other))


@functools.lru_cache(maxsize=16)
def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


class _Canvas:
    """``ImageDraw`` with world-space primitives for one camera (alpha-blended colours)."""

    def __init__(self, image: Image.Image, cam: Camera, scale: int):
        self.image = image
        self.draw = ImageDraw.Draw(image, "RGBA")
        self.cam = cam
        self.s = scale

    def _pixels(self, points: np.ndarray) -> list[tuple[float, float]] | None:
        uv, _ = self.cam.project(points)
        if not np.all(np.isfinite(uv)):
            return None
        return [tuple(p) for p in uv]

    def _visible(self, uv: np.ndarray, depth) -> bool:
        return bool(depth >= _NEAR and np.all(np.abs(uv - 0.5 * np.array([self.cam.width, self.cam.height]))
                                              < np.array([self.cam.width, self.cam.height])))

    def polyline(self, points, colour, width: float = 1.0) -> None:
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        for piece in _clip_polyline(points, self.cam):
            xy = self._pixels(piece)
            if xy is not None:
                self.draw.line(xy, fill=tuple(colour), width=max(1, round(width * self.s)), joint="curve")

    def polygon(self, points, fill=None, outline=None, width: float = 1.0) -> None:
        points = _clip_polygon(np.asarray(points, dtype=np.float64).reshape(-1, 3), self.cam)
        if len(points) < 3:
            return
        xy = self._pixels(points)
        if xy is None:
            return
        if fill is not None:
            self.draw.polygon(xy, fill=tuple(fill))
        if outline is not None:
            self.draw.line(xy + xy[:1], fill=tuple(outline), width=max(1, round(width * self.s)))

    def dot(self, point, radius_px: float, fill, outline=None, width: float = 1.0) -> None:
        uv, depth = self.cam.project(np.asarray(point, dtype=np.float64))
        if not self._visible(uv, depth):
            return
        r = radius_px * self.s
        box = (uv[0] - r, uv[1] - r, uv[0] + r, uv[1] + r)
        self.draw.ellipse(box, fill=None if fill is None else tuple(fill),
                          outline=None if outline is None else tuple(outline), width=max(1, round(width * self.s)))

    def text(self, point, label: str, colour, size: float = 12.0) -> None:
        """``label`` centred on the projection of ``point``."""
        uv, depth = self.cam.project(np.asarray(point, dtype=np.float64))
        if not self._visible(uv, depth):
            return
        font = _font(round(size * self.s))
        left, top, right, bottom = self.draw.textbbox((0, 0), label, font=font)
        xy = (uv[0] - 0.5 * (left + right), uv[1] - 0.5 * (top + bottom))
        self.draw.text(xy, label, fill=tuple(colour), font=font)


# -------------------------------------------------------------------- renderer
class Renderer:
    """Draws a :class:`~diffenvs.DiffQuadVectorEnv` (used by its ``render()``).

    Args:
        width, height: image size, pixels.
        max_drones: only the first ``max_drones`` rows of the batch are drawn.
        trail_length: number of past positions kept per drone.
        drone_scale: drones are drawn this many times their real size.
        azimuth, elevation: camera direction, degrees (see the module docstring).
        supersample: lines are drawn at this many times the resolution and downsampled
            (antialiasing); 1 turns it off.
    """

    def __init__(self, width: int = 640, height: int = 480, max_drones: int = 16, trail_length: int = 100, *,
                 drone_scale: float = 4.0, azimuth: float = -105.0, elevation: float = 40.0, supersample: int = 2):
        if width < 16 or height < 16:
            raise ValueError(f"image size must be at least 16x16, got {width}x{height}")
        if max_drones < 1 or trail_length < 1 or supersample < 1:
            raise ValueError("max_drones, trail_length and supersample must be positive")
        self.width, self.height = int(width), int(height)
        self.max_drones = int(max_drones)
        self.trail_length = int(trail_length)
        self.drone_scale = float(drone_scale)
        self.azimuth, self.elevation = float(azimuth), float(elevation)
        self.supersample = int(supersample)
        self.camera: Camera | None = None  # at output resolution, set on the first draw
        self._scene_task = None  # the task the scene below was built for
        self._background: Image.Image | None = None  # sky, ground and static markers
        self._statics: dict[str, np.ndarray] = {}  # task markers by kind
        self._gate_axes: list[tuple[np.ndarray, np.ndarray]] = []  # in-plane axes of every gate
        self.bounds = (np.zeros(3), np.zeros(3))  # box around the scene, m
        self.ground_z = 0.0
        # Trails: per shown row a ring buffer of positions.
        self._trail: np.ndarray | None = None  # (M, L, 3)
        self._head = np.zeros(0, dtype=np.int64)  # next write index per row
        self._count = np.zeros(0, dtype=np.int64)  # valid entries per row
        self._restart = np.zeros(0, dtype=bool)  # row was reset inside the last step
        self._start = np.zeros((0, 3))  # where those rows restarted

    # ------------------------------------------------------------------ trails
    def _rows(self, env) -> int:
        return min(env.num_envs, self.max_drones)

    def _allocate(self, m: int) -> None:
        self._trail = np.full((m, self.trail_length, 3), np.nan)
        self._head = np.zeros(m, dtype=np.int64)
        self._count = np.zeros(m, dtype=np.int64)
        self._restart = np.zeros(m, dtype=bool)
        self._start = np.zeros((m, 3))

    def _append(self, rows: np.ndarray, pos: np.ndarray) -> None:
        idx = np.flatnonzero(rows) if rows.dtype == bool else rows
        self._trail[idx, self._head[idx]] = pos
        self._head[idx] = (self._head[idx] + 1) % self.trail_length
        self._count[idx] = np.minimum(self._count[idx] + 1, self.trail_length)

    def reset(self, env, mask=None) -> None:
        """Start new trails for the rows in ``mask`` (all rows when ``None``) after a reset."""
        m = self._rows(env)
        if self._trail is None or self._trail.shape[0] != m:
            self._allocate(m)
            mask = None
        rows = np.ones(m, dtype=bool) if mask is None else torch.as_tensor(mask).reshape(-1)[:m].cpu().numpy()
        rows = rows.astype(bool)
        self._count[rows] = 0
        self._restart[rows] = False
        if rows.any():
            pos = env.state[:m, :3].detach().cpu().numpy().astype(np.float64)
            self._append(rows, pos[rows])

    def record(self, env, next_state: torch.Tensor) -> None:
        """Append the positions of ``next_state`` (the state before autoreset) to the trails.

        Rows reset inside this step (their step counter in ``env.state`` is 0) keep the
        end of their old trajectory for this frame and start a new trail, from their new
        start position, on the next step.
        """
        m = self._rows(env)
        if self._trail is None or self._trail.shape[0] != m:
            self.reset(env)
            return
        with torch.no_grad():
            now = env.state
            packed = torch.cat([next_state[:m, :3], now[:m, :3], now[:m, _STEP_COL:_STEP_COL + 1]], -1)
            packed = packed.detach().cpu().numpy().astype(np.float64)
        if self._restart.any():
            self._count[self._restart] = 0
            self._append(self._restart, self._start[self._restart])
        self._append(np.arange(m), packed[:, 0:3])
        self._restart = packed[:, 6] == 0
        self._start = packed[:, 3:6].copy()

    def trails(self) -> list[np.ndarray]:
        """The stored trail of every shown row, oldest point first (``(K, 3)`` arrays)."""
        if self._trail is None:
            return []
        out = []
        for r in range(self._trail.shape[0]):
            k = int(self._count[r])
            idx = (self._head[r] - k + np.arange(k)) % self.trail_length
            out.append(self._trail[r, idx])
        return out

    # ------------------------------------------------------------------- scene
    def _scene_points(self, env) -> np.ndarray:
        """World points that must be in view: episode starts and the task's markers."""
        task = env.task
        gen = torch.Generator(device=task.device).manual_seed(0)
        x, _ = task.sample_initial(256, gen)
        pts = [x[:, :3].detach().cpu().double().numpy()]
        for marker in self._statics.values():
            pts.append(np.asarray(marker, dtype=np.float64).reshape(-1, 3))
        pts = np.concatenate(pts)
        pts = pts[np.all(np.isfinite(pts), -1)]
        return pts

    def _build_scene(self, env) -> None:
        """Camera, static markers and the background image for ``env.task``."""
        task = env.task
        self._scene_task = task
        self.ground_z = float(task.arena_low[2])
        statics: dict[str, np.ndarray] = {}
        if hasattr(task, "gates"):
            statics["gates"] = task.gates.detach().cpu().double().numpy().reshape(-1, 3)
        elif hasattr(task, "pad"):
            statics["pad"] = task.pad.detach().cpu().double().numpy().reshape(3)
        elif hasattr(task, "reference"):
            horizon = (env.max_episode_steps or 256) * env.dt
            t = torch.linspace(0.0, horizon, 400, dtype=task.dtype, device=task.device)
            statics["reference"] = task.reference(t).detach().cpu().double().numpy()
        elif hasattr(task, "target"):
            statics["target"] = task.target.detach().cpu().double().numpy().reshape(3)
        self._statics = statics

        pts = self._scene_points(env)
        if "gates" in statics:
            self._gate_axes = self._gate_frames(statics["gates"])
            gate = self._gate_half()
            pts = np.concatenate([pts, statics["gates"] + gate, statics["gates"] - gate])
        ground = pts.copy()
        ground[:, 2] = self.ground_z
        pts = np.concatenate([pts, ground])
        lo, hi = pts.min(0), pts.max(0)
        # Keep a margin around every point: drones wander beyond their starts and overshoot gates.
        margin = max(0.6, 0.12 * float(np.max(hi[:2] - lo[:2])))
        offsets = np.array([[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 0.6]]) * margin
        fit = (pts[:, None, :] + offsets).reshape(-1, 3)
        self.camera = Camera.fit(fit, self.width, self.height, azimuth=self.azimuth, elevation=self.elevation)
        self.bounds = (lo, hi)
        self._background = self._draw_background()

    def _gate_half(self) -> float:
        radius = getattr(getattr(self._scene_task, "cfg", None), "gate_radius", 0.3)
        return float(radius) + 0.07

    def _draw_background(self) -> Image.Image:
        """Sky, ground grid and the task's static markers, at the supersampled resolution."""
        s = self.supersample
        cam = self.camera.scaled(s)
        w, h = cam.width, cam.height
        ramp = np.linspace(0.0, 1.0, h)[:, None, None]
        sky = (1 - ramp) * np.array(_SKY_TOP) + ramp * np.array(_SKY_BOTTOM)
        image = Image.fromarray(np.broadcast_to(sky, (h, w, 3)).astype(np.uint8))
        canvas = _Canvas(image, cam, s)
        self._draw_ground(canvas)
        self._draw_static_markers(canvas)
        return image

    def _draw_ground(self, c: _Canvas) -> None:
        lo, hi = self.bounds
        gz = self.ground_z
        span = max(hi[0] - lo[0], hi[1] - lo[1])
        step = 0.5 if span < 5 else (1.0 if span < 16 else 2.0)
        x0, x1 = math.floor(lo[0] - 1.0), math.ceil(hi[0] + 1.0)
        y0, y1 = math.floor(lo[1] - 1.0), math.ceil(hi[1] + 1.0)
        far = 500.0  # the ground plane reaches the horizon; the grid covers the scene
        c.polygon([[-far, -far, gz], [far, -far, gz], [far, far, gz], [-far, far, gz]], fill=_GROUND)
        for x in np.arange(x0, x1 + 1e-9, step):
            major = abs(x - round(x / 5.0) * 5.0) < 1e-9
            c.polyline([[x, y0, gz], [x, y1, gz]], _GRID_MAJOR if major else _GRID, 1.0)
        for y in np.arange(y0, y1 + 1e-9, step):
            major = abs(y - round(y / 5.0) * 5.0) < 1e-9
            c.polyline([[x0, y, gz], [x1, y, gz]], _GRID_MAJOR if major else _GRID, 1.0)
        # Axis triad at the origin (or the grid corner nearest to it), x red, y green, z blue.
        origin = np.array([min(max(0.0, x0), x1), min(max(0.0, y0), y1), gz])
        for axis, colour in enumerate(_AXES):
            tip = origin.copy()
            tip[axis] += 0.5
            c.polyline([origin, tip], colour, 2.0)
            c.text(origin + 1.25 * (tip - origin), "xyz"[axis], colour, size=10)

    def _draw_static_markers(self, c: _Canvas) -> None:
        gz = self.ground_z
        st = self._statics
        if "target" in st:
            p = st["target"]
            c.polygon(p + np.c_[0.25 * _CIRCLE, np.full(16, gz - p[2])], fill=(*_TARGET, 40), outline=_TARGET)
            c.polyline([[p[0], p[1], gz], p], (*_TARGET, 150), 1.0)
            c.dot(p, 6.0, (*_TARGET, 60), outline=_TARGET, width=1.5)
            for axis in range(3):
                d = np.zeros(3)
                d[axis] = 0.12
                c.polyline([p - d, p + d], _TARGET, 1.5)
        if "reference" in st:
            ref = st["reference"]
            shadow = ref.copy()
            shadow[:, 2] = gz
            c.polyline(shadow, (120, 130, 120, 110), 1.5)
            c.polyline(ref, (*_TARGET, 170), 2.0)
        if "pad" in st:
            p = st["pad"].copy()
            p[2] = max(p[2], gz) + 0.005
            cfg = getattr(self._scene_task, "cfg", None)
            half = max(float(getattr(cfg, "success_xy", 0.3)), 0.25)
            square = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], dtype=np.float64)
            c.polygon(p + half * square, fill=_PAD, outline=(250, 250, 250), width=1.5)
            hh = 0.55 * half
            for a, b in (([-0.6, -1], [-0.6, 1]), ([0.6, -1], [0.6, 1]), ([-0.6, 0], [0.6, 0])):
                c.polyline([p + hh * np.array([*a, 0.0]), p + hh * np.array([*b, 0.0])], (250, 250, 250), 2.0)
        if "gates" in st:
            gates = st["gates"]
            c.polyline(np.concatenate([gates, gates[:1]]), (90, 90, 110, 70), 1.0)
            half = self._gate_half()
            for g, (u, v) in zip(gates, self._gate_axes):
                for side in (-1.0, 1.0):
                    foot = g + side * half * u - half * v
                    c.polyline([foot, [foot[0], foot[1], gz]], (110, 110, 120), 1.5)

    @staticmethod
    def _gate_frames(gates: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per gate the in-plane axes ``(u, v)``: the gate faces the direction from the previous gate."""
        frames = []
        for i, g in enumerate(gates):
            n = g - gates[i - 1]
            n[2] = 0.0
            if np.linalg.norm(n) < 1e-6:
                n = np.array([1.0, 0.0, 0.0])
            n /= np.linalg.norm(n)
            u = np.cross([0.0, 0.0, 1.0], n)
            frames.append((u, np.array([0.0, 0.0, 1.0])))
        return frames

    # -------------------------------------------------------------------- draw
    def draw(self, env) -> np.ndarray:
        """The current picture of ``env`` as an ``(height, width, 3)`` uint8 array."""
        if self._scene_task is not env.task or self._background is None:
            self._build_scene(env)
        m = self._rows(env)
        if self._trail is None or self._trail.shape[0] != m:
            self.reset(env)
        layout = env.state_layout
        with torch.no_grad():
            state = env.state[:m].detach()
            cols = [state[:, :7], state[:, _STEP_COL:_STEP_COL + 1]]
            if "next_gate" in layout:
                cols.append(state[:, layout["next_gate"]])
            if "reference" in self._statics:
                cols.append(env.task.reference(state[:, _STEP_COL] * env.dt))
            data = torch.cat([col.to(torch.float64) for col in cols], -1).cpu().numpy()
        pos, quat, steps = data[:, 0:3], data[:, 3:7], data[:, 7]
        extra = data[:, 8:]

        s = self.supersample
        image = self._background.copy()
        c = _Canvas(image, self.camera.scaled(s), s)
        if "gates" in self._statics:
            nxt = extra[:, 0] if "next_gate" in layout else np.zeros(0)
            self._draw_gates(c, nxt)
        if "reference" in self._statics:
            for r in range(m):
                c.dot(extra[r, -3:], 4.5, (*_TARGET, 220), outline=PALETTE[r % len(PALETTE)], width=1.5)
        self._draw_shadows(c, pos)
        self._draw_trails(c)
        order = np.argsort(-self._depths(pos, c.cam))
        for r in order:
            self._draw_drone(c, pos[r], quat[r], PALETTE[r % len(PALETTE)], env.vehicle.arm_length)
        if s > 1:
            image = image.resize((self.width, self.height), _RESAMPLE)
        self._draw_overlay(image, env, steps, m)
        return np.array(image, dtype=np.uint8)

    @staticmethod
    def _depths(pos: np.ndarray, cam: Camera) -> np.ndarray:
        depth = (pos - cam.eye) @ cam.forward
        return np.where(np.isfinite(depth), depth, -np.inf)

    def _draw_gates(self, c: _Canvas, next_gate: np.ndarray) -> None:
        gates = self._statics["gates"]
        upcoming = {int(g) % len(gates) for g in next_gate if np.isfinite(g)}
        outer = self._gate_half()
        inner = outer - 0.07
        for i, (g, (u, v)) in enumerate(zip(gates, self._gate_axes)):
            colour = _GATE_NEXT if i in upcoming else _GATE
            corners = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
            for k in range(4):
                (a1, b1), (a2, b2) = corners[k], corners[(k + 1) % 4]
                quad = [g + outer * (a1 * u + b1 * v), g + outer * (a2 * u + b2 * v),
                        g + inner * (a2 * u + b2 * v), g + inner * (a1 * u + b1 * v)]
                c.polygon(quad, fill=colour)
            c.text(g + (outer + 0.15) * v, str(i + 1), _blend(colour, (0, 0, 0), 0.35), size=13)

    def _draw_shadows(self, c: _Canvas, pos: np.ndarray) -> None:
        gz = self.ground_z
        radius = 1.2 * self.drone_scale * self._scene_task.params.arm_length
        for p in pos:
            if not np.all(np.isfinite(p)):
                continue
            foot = np.array([p[0], p[1], gz])
            c.polyline([foot, p], (90, 90, 100, 90), 1.0)
            c.polygon(foot + np.c_[radius * _CIRCLE, np.zeros(16)], fill=(0, 0, 0, 45))

    def _draw_trails(self, c: _Canvas, chunks: int = 4) -> None:
        for r, trail in enumerate(self.trails()):
            if len(trail) < 2:
                continue
            colour = PALETTE[r % len(PALETTE)]
            bounds = np.linspace(0, len(trail) - 1, chunks + 1).round().astype(int)
            for j in range(chunks):
                part = trail[bounds[j]:bounds[j + 1] + 1]
                if len(part) >= 2:
                    alpha = int(255 * (0.25 + 0.75 * (j + 1) / chunks))
                    c.polyline(part, (*colour, alpha), 2.0)

    def _draw_drone(self, c: _Canvas, p: np.ndarray, q: np.ndarray, colour, arm: float) -> None:
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))):
            return
        R = _rotmat(q / max(np.linalg.norm(q), 1e-9))
        size = arm * self.drone_scale
        rotors = np.c_[size * _ROTOR_XY, np.zeros(4)]  # body frame
        world = p + rotors @ R.T
        dark = _blend(colour, (0, 0, 0), 0.45)
        for a, b in ((0, 1), (2, 3)):
            c.polyline([world[a], world[b]], _BODY, 2.5)
        body = np.c_[0.18 * size * np.array([[1.4, 0.0], [0.6, 1.0], [-1.0, 1.0], [-1.0, -1.0], [0.6, -1.0]]),
                     np.zeros(5)]  # pointed towards the front (body +x)
        c.polygon(p + body @ R.T, fill=_BODY)
        disc = np.c_[0.42 * size * _CIRCLE, np.full(16, 0.06 * size)]
        order = np.argsort(-((world - c.cam.eye) @ c.cam.forward))
        for i in order:
            fill = colour if _ROTOR_XY[i, 0] > 0 else dark
            c.polygon(world[i] + disc @ R.T, fill=(*fill, 190), outline=fill, width=1.0)

    def _draw_overlay(self, image: Image.Image, env, steps: np.ndarray, m: int) -> None:
        finite = steps[np.isfinite(steps)].astype(int)
        if finite.size == 0 or finite.min() == finite.max():
            step = f"step {finite[0] if finite.size else 0}"
        else:
            step = f"step {finite.min()}-{finite.max()}"
        label = f"{env.task.name}  |  {step}  |  drones {m}/{env.num_envs}"
        draw = ImageDraw.Draw(image, "RGBA")
        font = _font(14)
        left, top, right, bottom = draw.textbbox((10, 8), label, font=font)
        draw.rectangle((left - 6, top - 4, right + 6, bottom + 4), fill=(255, 255, 255, 170))
        draw.text((10, 8), label, fill=_TEXT, font=font)


def _rotmat(q: np.ndarray) -> np.ndarray:
    """Rotation matrix (body -> world) of a unit quaternion ``(w, x, y, z)``."""
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


# ------------------------------------------------------------------ animations
def save_animation(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: float = 25) -> str:
    """Write ``(H, W, 3)`` uint8 frames to ``path`` (``.gif``, or ``.mp4`` with ``imageio[ffmpeg]``).

    GIFs loop forever. The file is written to a temporary file in the same folder and
    then moved into place, so a partly written animation never appears at ``path``.
    Returns ``path`` as a string.
    """
    path = os.fspath(path)
    ext = Path(path).suffix.lower()
    if ext not in (".gif", ".mp4"):
        raise ValueError(f"unsupported animation format {ext or '(no extension)'!r} for {path!r}; use .gif or .mp4")
    if len(frames) == 0:
        raise ValueError("no frames to save")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    frames = [np.asarray(f) for f in frames]
    shape = frames[0].shape
    for f in frames:
        if f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3 or f.shape != shape:
            raise ValueError(f"frames must all be (H, W, 3) uint8 arrays of one size; got {f.shape} {f.dtype} "
                             f"after {shape}")
    if ext == ".mp4":
        try:
            import imageio.v2 as imageio
            import imageio_ffmpeg  # noqa: F401
        except ImportError as err:
            raise ImportError("writing .mp4 needs imageio with ffmpeg: pip install 'imageio[ffmpeg]' "
                              "(or save a .gif instead)") from err
    with atomic_path(path, suffix=ext) as tmp:
        if ext == ".gif":
            images = [Image.fromarray(f) for f in frames]
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], loop=0,
                           duration=max(20, round(1000.0 / fps)))
        else:
            with imageio.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", quality=7,
                                    macro_block_size=1) as writer:
                for f in frames:
                    writer.append_data(f)
    return path


def record_episode(env, policy: Callable[[torch.Tensor], torch.Tensor], path: str | os.PathLike,
                   max_steps: int | None = None, fps: float = 25, every: int = 2) -> str:
    """Fly ``policy`` in ``env`` and save the rendered frames to ``path`` (see :func:`save_animation`).

    Args:
        env: a :class:`~diffenvs.DiffQuadVectorEnv` built with ``render_mode="rgb_array"``.
            It is reset first if it has never been reset, else it continues from its
            current state.
        policy: maps the observation tensor ``env.obs`` ``(N, obs_dim)`` to actions ``(N, 4)``,
            e.g. :class:`~diffenvs.CascadedController`.
        path: ``.gif`` or ``.mp4`` file.
        max_steps: number of env steps; default the env's episode length (or 256).
        fps: frames per second of the animation.
        every: keep every ``every``-th frame (the first frame is always kept).

    Returns:
        the path written.
    """
    from .single_env import DiffQuadEnv
    from .vector_env import DiffQuadVectorEnv

    base = getattr(env, "unwrapped", env)
    if isinstance(base, DiffQuadEnv):
        base = base.vec
    if not isinstance(base, DiffQuadVectorEnv):
        raise TypeError(f"record_episode needs a DiffQuadVectorEnv, got {type(env).__name__}")
    if base.render_mode != "rgb_array":
        raise ValueError("record_episode needs an env built with render_mode='rgb_array', e.g. "
                         "DiffQuadVectorEnv(..., render_mode='rgb_array') or "
                         "gym.make_vec(env_id, num_envs=..., render_mode='rgb_array')")
    if not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be a positive int, got {every!r}")
    if max_steps is None:
        max_steps = base.max_episode_steps or 256
    if base._state is None:
        base.reset()
    frames = [base.render()]
    with torch.no_grad():
        for i in range(int(max_steps)):
            actions = torch.as_tensor(policy(base.obs), dtype=base.dtype, device=base.device)
            _, _, terminated, truncated, _ = base.step_differentiable(actions)
            finished = not base.autoreset and bool((terminated | truncated).all())
            if (i + 1) % every == 0 or finished:
                frames.append(base.render())
            if finished:
                break
    return save_animation(frames, path, fps=fps)
