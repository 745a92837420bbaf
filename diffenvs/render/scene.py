"""The generic scene renderer behind ``render_mode="rgb_array"``: ground, task markers, trails, robots."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..registry import load_object
from .camera import Camera
from .canvas import PALETTE, TEXT, Canvas, blend, font, unit_circle
from .drawer import PointDrawer, RobotDrawer

_RESAMPLE = getattr(Image, "Resampling", Image).BOX

# Colours (RGB).
_SKY_TOP = (170, 200, 232)
_SKY_BOTTOM = (232, 240, 248)
_GROUND = (222, 229, 214)
_GRID = (196, 206, 188)
_GRID_MAJOR = (170, 182, 162)
_TARGET = (220, 40, 60)
_GATE = (235, 140, 40)
_GATE_NEXT = (30, 185, 90)
_PAD = (70, 74, 82)
_AXES = ((210, 60, 60), (60, 160, 60), (60, 90, 210))
_CIRCLE = unit_circle(16)
_GATE_BAR = 0.07  # width of a gate's frame, m


class _Scene:
    """What one task and robot look like, independent of the envs' states."""

    def __init__(self, task, robot, drawer: RobotDrawer, markers, bounds, ground_z: float):
        self.task = task
        self.robot = robot
        self.drawer = drawer
        self.markers = markers
        self.bounds = bounds
        self.ground_z = ground_z
        self.gate_axes = {i: _gate_frames(np.asarray(m.points, np.float64).reshape(-1, 3))
                          for i, m in enumerate(markers) if m.kind == "gates"}


class Renderer:
    """Draws a batched env (any robot, any task) with Pillow; used by the envs' ``render()``.

    It knows no robot: the picture is made of the ground (the plane ``z = 0`` with a grid
    and an axis triad at the origin), the task's markers (:meth:`Task.markers`: ``point``
    targets, ``path`` polylines, landing ``pad`` squares and ``gates``, with each env's
    next gate highlighted and a moving ``reference`` point from
    :meth:`Task.marker_state`), a trail of ``robot.position(state)`` per env, a shadow
    and plumb line below every robot, the robots themselves drawn by the robot's drawer
    (``Robot.drawer``, a :class:`~diffenvs.render.RobotDrawer`) and a text overlay.

    Two kinds of pictures share one scene:

    * :meth:`draw_envs`: one frame per env (``frame_size``), each showing that env
      alone (Gymnasium's vector ``render()`` convention);
    * :meth:`draw`: the overview, one ``width x height`` picture of the first
      ``max_envs`` envs together.

    Camera: a fixed pinhole camera per scene. The renderer collects the points that must
    stay in view: 256 episode starts from the task's own ``sample_initial`` (with a
    private generator, so the env's random stream is untouched) mapped through
    ``robot.position``, and the task's markers, together with their projections onto
    the ground. The camera looks at their padded bounding box from ``azimuth`` degrees
    around the world ``z`` axis (from ``+x``; the default -105 puts the camera on the
    ``-y`` side, so world ``x`` points roughly to the right) and ``elevation`` degrees
    above the horizon (default 40), from the smallest distance that keeps every point
    in the picture (:meth:`Camera.fit`).

    Lines are antialiased by drawing at ``supersample`` times the resolution and
    downsampling. A frame costs a few milliseconds.

    Args:
        width, height: overview size, pixels.
        max_envs: the overview shows the first ``max_envs`` envs of the batch.
        trail_length: number of past positions kept per env.
        frame_size: ``(width, height)`` of the per-env frames; ``None``: 640x480 for a
            single env, 320x240 for more.
        robot_scale: robots are drawn this many times their real size (``None``: the
            drawer's ``default_scale``, e.g. 4 for the quadrotor).
        azimuth, elevation: camera direction, degrees.
        supersample: drawing resolution factor (1 turns antialiasing off).
    """

    def __init__(self, width: int = 640, height: int = 480, max_envs: int = 16, trail_length: int = 100, *,
                 frame_size: tuple[int, int] | None = None, robot_scale: float | None = None,
                 azimuth: float = -105.0, elevation: float = 40.0, supersample: int = 2):
        sizes = [(width, height)] + ([tuple(frame_size)] if frame_size is not None else [])
        for w, h in sizes:
            if w < 16 or h < 16:
                raise ValueError(f"image size must be at least 16x16, got {w}x{h}")
        if max_envs < 1 or trail_length < 1 or supersample < 1:
            raise ValueError("max_envs, trail_length and supersample must be positive")
        if robot_scale is not None and not robot_scale > 0:
            raise ValueError(f"robot_scale must be positive, got {robot_scale!r}")
        self.width, self.height = int(width), int(height)
        self.max_envs = int(max_envs)
        self.trail_length = int(trail_length)
        self.frame_size = None if frame_size is None else (int(frame_size[0]), int(frame_size[1]))
        self.robot_scale = None if robot_scale is None else float(robot_scale)
        self.azimuth, self.elevation = float(azimuth), float(elevation)
        self.supersample = int(supersample)
        self.camera: Camera | None = None  # overview camera at output resolution, set with the scene
        self._scene: _Scene | None = None
        self._cameras: dict[tuple[int, int], Camera] = {}
        self._backgrounds: dict[tuple[int, int], Image.Image] = {}  # sky, ground, static markers (supersampled)
        self._fit_points = np.zeros((0, 3))
        # Trails: per env a ring buffer of positions.
        self._trail: np.ndarray | None = None  # (N, L, 3) float32
        self._head = np.zeros(0, dtype=np.int64)  # next write index per env
        self._count = np.zeros(0, dtype=np.int64)  # valid entries per env
        self._restart = np.zeros(0, dtype=bool)  # env was reset inside the last step
        self._start = np.zeros((0, 3))  # where those envs restarted

    # ---------------------------------------------------------------- properties
    @property
    def markers(self) -> tuple:
        """The task markers of the current scene."""
        return () if self._scene is None else self._scene.markers

    @property
    def drawer(self) -> RobotDrawer | None:
        """The robot drawer of the current scene."""
        return None if self._scene is None else self._scene.drawer

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Box around the episode starts and markers, m."""
        return (np.zeros(3), np.zeros(3)) if self._scene is None else self._scene.bounds

    @property
    def ground_z(self) -> float:
        return 0.0

    def frame_shape(self, env) -> tuple[int, int]:
        """``(width, height)`` of the per-env frames of ``env``."""
        if self.frame_size is not None:
            return self.frame_size
        return (640, 480) if env.num_envs == 1 else (320, 240)

    def frame_camera(self, env) -> Camera:
        """The camera of the per-env frames of ``env``."""
        self._ensure(env)
        return self._camera(self.frame_shape(env))

    # ------------------------------------------------------------------ trails
    def _allocate(self, n: int) -> None:
        self._trail = np.full((n, self.trail_length, 3), np.nan, dtype=np.float32)
        self._head = np.zeros(n, dtype=np.int64)
        self._count = np.zeros(n, dtype=np.int64)
        self._restart = np.zeros(n, dtype=bool)
        self._start = np.zeros((n, 3))

    def _append(self, rows: np.ndarray, pos: np.ndarray) -> None:
        idx = np.flatnonzero(rows) if rows.dtype == bool else rows
        self._trail[idx, self._head[idx]] = pos
        self._head[idx] = (self._head[idx] + 1) % self.trail_length
        self._count[idx] = np.minimum(self._count[idx] + 1, self.trail_length)

    @staticmethod
    def _positions(env, state) -> np.ndarray:
        with torch.no_grad():
            return env.robot.position(state).detach().to(torch.float64).cpu().numpy()

    def reset(self, env, mask=None) -> None:
        """Start new trails for the envs in ``mask`` (all envs when ``None``) after a reset."""
        n = env.num_envs
        if self._trail is None or self._trail.shape[0] != n:
            self._allocate(n)
            mask = None
        rows = np.ones(n, dtype=bool) if mask is None else torch.as_tensor(mask).reshape(-1).cpu().numpy()
        rows = rows.astype(bool)
        self._count[rows] = 0
        self._restart[rows] = False
        if rows.any():
            self._append(rows, self._positions(env, env.state)[rows])

    def record(self, env, next_state) -> None:
        """Append the positions of ``next_state`` (the state before autoreset) to the trails.

        Envs reset inside this step (their ``step`` in ``env.state`` is 0) keep the end of
        their old trajectory for this frame and start a new trail, from their new start
        position, on the next step.
        """
        if self._trail is None or self._trail.shape[0] != env.num_envs:
            self.reset(env)
            return
        with torch.no_grad():
            now = env.state
            new_pos = env.robot.position(next_state).detach()
            packed = torch.cat([new_pos, env.robot.position(now).detach().to(new_pos.dtype),
                                now["step"].detach().reshape(-1, 1).to(new_pos.dtype)], -1)
            packed = packed.to(torch.float64).cpu().numpy()
        if self._restart.any():
            self._count[self._restart] = 0
            self._append(self._restart, self._start[self._restart])
        self._append(np.arange(env.num_envs), packed[:, 0:3])
        self._restart = packed[:, 6] == 0
        self._start = packed[:, 3:6].copy()

    def trails(self, rows=None) -> list[np.ndarray]:
        """The stored trail of every env (or of ``rows``), oldest point first (``(K, 3)`` arrays)."""
        if self._trail is None:
            return []
        out = []
        for r in range(self._trail.shape[0]) if rows is None else rows:
            k = int(self._count[r])
            idx = (self._head[r] - k + np.arange(k)) % self.trail_length
            out.append(self._trail[r, idx].astype(np.float64))
        return out

    # ------------------------------------------------------------------- scene
    def _ensure(self, env) -> None:
        if self._scene is None or self._scene.task is not env.task or self._scene.robot is not env.robot:
            self._build_scene(env)
        if self._trail is None or self._trail.shape[0] != env.num_envs:
            self.reset(env)

    def _build_scene(self, env) -> None:
        """Markers, drawer, camera framing points; cameras and backgrounds are made on demand."""
        task, robot = env.task, env.robot
        markers = tuple(task.markers())
        drawer_cls = PointDrawer if robot.drawer is None else load_object(robot.drawer)
        drawer = drawer_cls(robot, self.robot_scale)

        gen = torch.Generator(device=task.device).manual_seed(0)
        with torch.no_grad():
            starts = robot.position(task.sample_initial(256, gen)).detach().to(torch.float64).cpu().numpy()
        pts = [starts]
        for m in markers:
            p = np.asarray(m.points, np.float64).reshape(-1, 3)
            pts.append(p)
            extent = _gate_half(m) if m.kind == "gates" else float(m.size)
            if extent > 0 and m.kind != "path":
                pts += [p + extent, p - extent]
        pts = np.concatenate(pts)
        pts = pts[np.all(np.isfinite(pts), -1)]
        if len(pts) == 0:
            pts = np.zeros((1, 3))
        ground = pts.copy()
        ground[:, 2] = self.ground_z
        pts = np.concatenate([pts, ground])
        lo, hi = pts.min(0), pts.max(0)
        # Keep a margin around every point: robots wander beyond their starts and overshoot gates.
        margin = max(0.6, 0.12 * float(np.max(hi[:2] - lo[:2])))
        offsets = np.array([[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 0.6]]) * margin
        self._fit_points = (pts[:, None, :] + offsets).reshape(-1, 3)
        self._scene = _Scene(task, robot, drawer, markers, (lo, hi), self.ground_z)
        self._cameras.clear()
        self._backgrounds.clear()
        self.camera = self._camera((self.width, self.height))

    def _camera(self, size: tuple[int, int]) -> Camera:
        if size not in self._cameras:
            view = {"azimuth": self.azimuth, "elevation": self.elevation}
            if self._scene is not None:
                view.update(getattr(self._scene.task, "view", {}) or {})
            self._cameras[size] = Camera.fit(self._fit_points, size[0], size[1], **view)
        return self._cameras[size]

    @staticmethod
    def _ui_scale(size: tuple[int, int]) -> float:
        """Line widths and text sizes relative to a 640x480 picture."""
        return float(np.clip(min(size[0] / 640.0, size[1] / 480.0), 0.6, 2.0))

    def _canvas(self, image: Image.Image, size: tuple[int, int]) -> Canvas:
        return Canvas(image, self._camera(size).scaled(self.supersample), self.supersample * self._ui_scale(size))

    def _background(self, size: tuple[int, int]) -> Image.Image:
        """Sky, ground grid and the task's static markers, at the supersampled resolution."""
        if size not in self._backgrounds:
            s = self.supersample
            w, h = size[0] * s, size[1] * s
            ramp = np.linspace(0.0, 1.0, h)[:, None, None]
            sky = (1 - ramp) * np.array(_SKY_TOP) + ramp * np.array(_SKY_BOTTOM)
            image = Image.fromarray(np.broadcast_to(sky, (h, w, 3)).astype(np.uint8))
            canvas = self._canvas(image, size)
            self._draw_ground(canvas)
            self._draw_static_markers(canvas)
            self._backgrounds[size] = image
        return self._backgrounds[size]

    def _draw_ground(self, c: Canvas) -> None:
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

    def _draw_static_markers(self, c: Canvas) -> None:
        gz = self.ground_z
        for i, marker in enumerate(self.markers):
            pts = np.asarray(marker.points, np.float64).reshape(-1, 3)
            if marker.kind == "point":
                for p in pts:
                    radius = max(float(marker.size), 0.25)
                    c.polygon(p + np.c_[radius * _CIRCLE, np.full(16, gz - p[2])], fill=(*_TARGET, 40),
                              outline=_TARGET)
                    c.polyline([[p[0], p[1], gz], p], (*_TARGET, 150), 1.0)
                    c.dot(p, 6.0, (*_TARGET, 60), outline=_TARGET, width=1.5)
                    for axis in range(3):
                        d = np.zeros(3)
                        d[axis] = 0.12
                        c.polyline([p - d, p + d], _TARGET, 1.5)
            elif marker.kind == "path":
                shadow = pts.copy()
                shadow[:, 2] = gz
                c.polyline(shadow, (120, 130, 120, 110), 1.5)
                c.polyline(pts, (*_TARGET, 170), 2.0)
            elif marker.kind == "pad":
                half = float(marker.size) if marker.size > 0 else 0.25
                square = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], dtype=np.float64)
                for p in pts:
                    p = p.copy()
                    p[2] = max(p[2], gz) + 0.005
                    c.polygon(p + half * square, fill=_PAD, outline=(250, 250, 250), width=1.5)
                    hh = 0.55 * half
                    for a, b in (([-0.6, -1], [-0.6, 1]), ([0.6, -1], [0.6, 1]), ([-0.6, 0], [0.6, 0])):
                        c.polyline([p + hh * np.array([*a, 0.0]), p + hh * np.array([*b, 0.0])], (250, 250, 250),
                                   2.0)
            elif marker.kind == "gates":
                c.polyline(np.concatenate([pts, pts[:1]]), (90, 90, 110, 70), 1.0)
                half = _gate_half(marker)
                for g, (u, v) in zip(pts, self._scene.gate_axes[i]):
                    for side in (-1.0, 1.0):
                        foot = g + side * half * u - half * v
                        c.polyline([foot, [foot[0], foot[1], gz]], (110, 110, 120), 1.5)
                self._draw_gates(c, i, set(range(len(pts))), _GATE)

    def _draw_gates(self, c: Canvas, index: int, which: set[int], colour) -> None:
        marker = self.markers[index]
        pts = np.asarray(marker.points, np.float64).reshape(-1, 3)
        outer = _gate_half(marker)
        inner = outer - _GATE_BAR
        corners = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
        for i in sorted(which):
            g, (u, v) = pts[i], self._scene.gate_axes[index][i]
            for k in range(4):
                (a1, b1), (a2, b2) = corners[k], corners[(k + 1) % 4]
                quad = [g + outer * (a1 * u + b1 * v), g + outer * (a2 * u + b2 * v),
                        g + inner * (a2 * u + b2 * v), g + inner * (a1 * u + b1 * v)]
                c.polygon(quad, fill=colour)
            c.text(g + (outer + 0.15) * v, str(i), blend(colour, (0, 0, 0), 0.35), size=13)

    # -------------------------------------------------------------------- draw
    def _gather(self, env, rows: slice) -> dict:
        """The state rows, robot positions and marker state of ``rows`` as numpy arrays."""
        with torch.no_grad():
            state = {k: v[rows].detach() for k, v in env.state.items()}
            pos = env.robot.position(state).detach()
            extra = env.task.marker_state(state)

            def numpy(v):
                v = v.detach()
                return (v.to(torch.float64) if v.is_floating_point() else v).cpu().numpy()

            inset = env.task.inset(state)
            return {"state": {k: numpy(v) for k, v in state.items()}, "pos": numpy(pos),
                    "marker": {k: numpy(torch.as_tensor(v)) for k, v in extra.items()},
                    "inset": None if inset is None else numpy(inset)}

    def draw(self, env) -> np.ndarray:
        """The overview: the first ``max_envs`` envs in one ``(height, width, 3)`` uint8 picture."""
        self._ensure(env)
        m = min(env.num_envs, self.max_envs)
        data = self._gather(env, slice(0, m))
        steps = data["state"]["step"]
        finite = steps[np.isfinite(steps)].astype(int)
        if finite.size == 0 or finite.min() == finite.max():
            step = f"step {finite[0] if finite.size else 0}"
        else:
            step = f"step {finite.min()}-{finite.max()}"
        label = f"{self._label(env)}  |  {step}  |  envs {m}/{env.num_envs}"
        return self._picture((self.width, self.height), data, list(range(m)), label)

    def draw_env(self, env, index: int) -> np.ndarray:
        """Env ``index`` alone, as a ``frame_size`` uint8 picture."""
        self._ensure(env)
        if not -env.num_envs <= index < env.num_envs:
            raise IndexError(f"env index {index} out of range for {env.num_envs} envs")
        index %= env.num_envs
        data = self._gather(env, slice(index, index + 1))
        return self._env_picture(env, data, index, 0)

    def draw_envs(self, env) -> list[np.ndarray]:
        """One picture per env (``num_envs`` ``frame_size`` uint8 arrays), each showing that env alone."""
        self._ensure(env)
        data = self._gather(env, slice(None))
        return [self._env_picture(env, data, i, i) for i in range(env.num_envs)]

    def _env_picture(self, env, data: dict, index: int, row: int) -> np.ndarray:
        one = {"state": {k: v[row:row + 1] for k, v in data["state"].items()}, "pos": data["pos"][row:row + 1],
               "marker": {k: v[row:row + 1] for k, v in data["marker"].items()},
               "inset": None if data["inset"] is None else data["inset"][row:row + 1]}
        step = int(one["state"]["step"][0]) if "step" in one["state"] else 0
        label = f"{self._label(env)}  |  env {index}  |  step {step}"
        return self._picture(self.frame_shape(env), one, [index], label)

    @staticmethod
    def _label(env) -> str:
        return getattr(env.task, "label", "") or env.task.name

    def _picture(self, size: tuple[int, int], data: dict, envs: list[int], label: str) -> np.ndarray:
        """Draw the envs ``envs`` (their rows in ``data``, in order) onto the background of ``size``."""
        image = self._background(size).copy()
        c = self._canvas(image, size)
        pos, extra = data["pos"], data["marker"]
        colours = [PALETTE[e % len(PALETTE)] for e in envs]
        for i, marker in enumerate(self.markers):
            if marker.kind == "gates" and "next_gate" in extra:
                n = len(np.asarray(marker.points).reshape(-1, 3))
                nxt = extra["next_gate"].reshape(-1)
                self._draw_gates(c, i, {int(g) % n for g in nxt if np.isfinite(g)}, _GATE_NEXT)
                break
        if "reference" in extra:
            for r, colour in enumerate(colours):
                c.dot(extra["reference"][r], 4.5, (*_TARGET, 220), outline=colour, width=1.5)
        task = self._scene.task
        for r, colour in enumerate(colours):
            task.draw_env(c, {k: v[r] for k, v in data["state"].items()}, colour)
        self._draw_shadows(c, pos)
        self._draw_trails(c, self.trails(envs), colours)
        drawer = self.drawer
        for r in np.argsort(-c.camera.depth(pos), kind="stable"):
            if np.all(np.isfinite(pos[r])):
                drawer.draw(c, {k: v[r] for k, v in data["state"].items()}, colours[r])
        if self.supersample > 1:
            image = image.resize(size, _RESAMPLE)
        if len(envs) == 1 and data.get("inset") is not None:
            _paste_inset(image, data["inset"][0])
        self._draw_overlay(image, label, self._ui_scale(size))
        return np.array(image, dtype=np.uint8)

    def _draw_shadows(self, c: Canvas, pos: np.ndarray) -> None:
        gz = self.ground_z
        radius = self.drawer.size
        for p in pos:
            if not np.all(np.isfinite(p)):
                continue
            foot = np.array([p[0], p[1], gz])
            if p[2] - gz > 1e-3:
                c.polyline([foot, p], (90, 90, 100, 90), 1.0)
            c.polygon(foot + np.c_[radius * _CIRCLE, np.zeros(16)], fill=(0, 0, 0, 45))

    @staticmethod
    def _draw_trails(c: Canvas, trails: list[np.ndarray], colours, chunks: int = 4) -> None:
        for trail, colour in zip(trails, colours):
            if len(trail) < 2:
                continue
            bounds = np.linspace(0, len(trail) - 1, chunks + 1).round().astype(int)
            for j in range(chunks):
                part = trail[bounds[j]:bounds[j + 1] + 1]
                if len(part) >= 2:
                    alpha = int(255 * (0.25 + 0.75 * (j + 1) / chunks))
                    c.polyline(part, (*colour, alpha), 2.0)

    @staticmethod
    def _draw_overlay(image: Image.Image, label: str, ui: float) -> None:
        draw = ImageDraw.Draw(image, "RGBA")
        f = font(max(8, round(14 * ui)))
        x, y, pad = round(10 * ui), round(8 * ui), max(3, round(6 * ui))
        left, top, right, bottom = draw.textbbox((x, y), label, font=f)
        draw.rectangle((left - pad, top - pad * 2 // 3, right + pad, bottom + pad * 2 // 3), fill=(255, 255, 255, 170))
        draw.text((x, y), label, fill=TEXT, font=f)


def _gate_half(marker) -> float:
    """Half side of a gate's square frame: the opening radius plus the frame's width."""
    return float(marker.size if marker.size > 0 else 0.3) + _GATE_BAR


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


def _paste_inset(image: Image.Image, values: np.ndarray) -> None:
    """Paste an ``(h, w)`` picture of values in [0, 1] (greyscale, nearest-neighbour
    enlarged to about a third of the frame's width) into the bottom-right corner, framed."""
    values = np.clip(np.nan_to_num(np.asarray(values, np.float64), nan=0.0), 0.0, 1.0)
    h, w = values.shape
    zoom = max(1, int(image.width / 3 / w))
    tile = Image.fromarray((values * 255).astype(np.uint8)).resize((w * zoom, h * zoom), Image.NEAREST)
    x, y = image.width - tile.width - 8, image.height - tile.height - 8
    ImageDraw.Draw(image).rectangle([x - 2, y - 2, x + tile.width + 1, y + tile.height + 1], outline=(30, 30, 30),
                                    width=2)
    image.paste(tile.convert("RGB"), (x, y))

