"""A pinhole camera in world coordinates (``z`` up) and clipping to its view frustum."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

#: Near clipping plane, m.
NEAR = 0.05


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

    def depth(self, points: np.ndarray) -> np.ndarray:
        """Depth along the viewing direction of world points ``(..., 3)`` (``-inf`` where not finite)."""
        d = (np.asarray(points, dtype=np.float64) - self.eye) @ self.forward
        return np.where(np.isfinite(d), d, -np.inf)

    @functools.cached_property
    def clip_planes(self) -> tuple[np.ndarray, np.ndarray]:
        """The view frustum (near plane, four sides a quarter picture outside) as ``n . (p - eye) + b >= 0``."""
        f, hw, hh = self.focal, 0.75 * self.width, 0.75 * self.height
        r, u, fw = self.right, self.up, self.forward
        normals = np.stack([fw, f * r + hw * fw, -f * r + hw * fw, -f * u + hh * fw, f * u + hh * fw])
        norms = np.linalg.norm(normals, axis=1)
        offsets = np.array([-NEAR, 0.0, 0.0, 0.0, 0.0])
        return normals / norms[:, None], offsets / norms

    def scaled(self, factor: int) -> Camera:
        """The same view rendered at ``factor`` times the resolution."""
        return Camera(self.eye, self.right, self.up, self.forward, self.focal * factor, self.width * factor,
                      self.height * factor)

    @staticmethod
    def fit(points: np.ndarray, width: int, height: int, *, azimuth: float = -105.0, elevation: float = 40.0,
            fov: float = 40.0, fill: float = 0.92) -> Camera:
        """The camera looking from ``(azimuth, elevation)`` (degrees) that frames ``points``.

        ``azimuth`` is measured around the world ``z`` axis from ``+x`` to the direction
        the camera is placed in, ``elevation`` above the horizon. ``fov`` is the vertical
        field of view (degrees); the points fill ``fill`` of the picture along its tighter
        direction. The distance is the smallest at which every point projects inside the
        picture (a closed form for a pinhole camera); the aim point is then shifted so
        the projected points are centred.
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
            return float(np.max(need - rel @ forward)) + NEAR

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


def clip_polygon(points: np.ndarray, cam: Camera) -> np.ndarray:
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


def clip_polyline(points: np.ndarray, cam: Camera) -> list[np.ndarray]:
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
