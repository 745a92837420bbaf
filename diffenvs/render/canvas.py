"""A Pillow canvas with world-space drawing primitives for one camera, and the shared colours."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .camera import NEAR, Camera, clip_polygon, clip_polyline

Colour = Sequence[int]  # RGB or RGBA, 0-255

#: Robot colours, one per shown env (cycled beyond 16).
PALETTE = (
    (31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207),
    (227, 119, 194), (140, 86, 75), (188, 189, 34), (127, 127, 127), (57, 59, 121), (173, 73, 74),
    (99, 121, 57), (123, 65, 115), (140, 109, 49), (82, 84, 163),
)

#: Dark grey for robot bodies and outlines.
BODY = (40, 42, 50)
#: Text colour.
TEXT = (30, 34, 40)


def unit_circle(n: int = 16) -> np.ndarray:
    """``(n, 2)`` points on the unit circle (counter-clockwise from ``+x``)."""
    a = np.linspace(0.0, 2.0 * np.pi, n + 1)[:-1]
    return np.stack([np.cos(a), np.sin(a)], -1)


def blend(colour: Colour, other: Colour, t: float) -> tuple[int, ...]:
    """``colour`` moved a fraction ``t`` toward ``other`` (RGB)."""
    return tuple(int(round(c + (o - c) * t)) for c, o in zip(colour, other))


@functools.lru_cache(maxsize=32)
def font(size: int):
    """Pillow's default font at ``size`` pixels (a fixed bitmap font on Pillow < 10.1)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


class Canvas:
    """``ImageDraw`` with world-space primitives for one camera (alpha-blended colours).

    Robot drawers receive one (see :class:`~diffenvs.render.RobotDrawer`). Points are
    world coordinates (m, ``z`` up); lines and polygons are clipped to the view, and
    points that are not finite are skipped. Widths and text sizes are in pixels of the
    output picture: they are multiplied by :attr:`scale` (the supersampling factor
    times the picture's size relative to 640x480).

    Attributes:
        image: the Pillow image drawn on (at the supersampled resolution).
        camera: the camera at the image's resolution.
        scale: pixels of :attr:`image` per nominal pixel.
    """

    def __init__(self, image: Image.Image, camera: Camera, scale: float = 1.0):
        self.image = image
        self.draw = ImageDraw.Draw(image, "RGBA")
        self.camera = camera
        self.scale = float(scale)

    def _pixels(self, points: np.ndarray) -> list[tuple[float, float]] | None:
        uv, _ = self.camera.project(points)
        if not np.all(np.isfinite(uv)):
            return None
        return [tuple(p) for p in uv]

    def _visible(self, uv: np.ndarray, depth) -> bool:
        size = np.array([self.camera.width, self.camera.height])
        return bool(depth >= NEAR and np.all(np.abs(uv - 0.5 * size) < size))

    def _width(self, width: float) -> int:
        return max(1, round(width * self.scale))

    def polyline(self, points, colour: Colour, width: float = 1.0) -> None:
        """A 3D polyline ``(K, 3)``."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        for piece in clip_polyline(points, self.camera):
            xy = self._pixels(piece)
            if xy is not None:
                self.draw.line(xy, fill=tuple(colour), width=self._width(width), joint="curve")

    def polygon(self, points, fill: Colour | None = None, outline: Colour | None = None, width: float = 1.0) -> None:
        """A planar 3D polygon ``(K, 3)``, filled and/or outlined."""
        points = clip_polygon(np.asarray(points, dtype=np.float64).reshape(-1, 3), self.camera)
        if len(points) < 3:
            return
        xy = self._pixels(points)
        if xy is None:
            return
        if fill is not None:
            self.draw.polygon(xy, fill=tuple(fill))
        if outline is not None:
            self.draw.line(xy + xy[:1], fill=tuple(outline), width=self._width(width))

    def disc(self, centre, radius: float, u, v, fill: Colour | None = None, outline: Colour | None = None,
             width: float = 1.0, n: int = 16) -> None:
        """A circle of ``radius`` m around ``centre`` in the plane spanned by the unit vectors ``u``, ``v``."""
        circle = unit_circle(n)
        pts = np.asarray(centre, np.float64) + radius * (circle[:, :1] * np.asarray(u, np.float64)
                                                         + circle[:, 1:] * np.asarray(v, np.float64))
        self.polygon(pts, fill=fill, outline=outline, width=width)

    def dot(self, point, radius_px: float, fill: Colour | None, outline: Colour | None = None,
            width: float = 1.0) -> None:
        """A circle of ``radius_px`` pixels around the projection of ``point``."""
        uv, depth = self.camera.project(np.asarray(point, dtype=np.float64))
        if not self._visible(uv, depth):
            return
        r = radius_px * self.scale
        box = (uv[0] - r, uv[1] - r, uv[0] + r, uv[1] + r)
        self.draw.ellipse(box, fill=None if fill is None else tuple(fill),
                          outline=None if outline is None else tuple(outline), width=self._width(width))

    def text(self, point, label: str, colour: Colour, size: float = 12.0) -> None:
        """``label`` centred on the projection of ``point``."""
        uv, depth = self.camera.project(np.asarray(point, dtype=np.float64))
        if not self._visible(uv, depth):
            return
        f = font(max(1, round(size * self.scale)))
        left, top, right, bottom = self.draw.textbbox((0, 0), label, font=f)
        xy = (uv[0] - 0.5 * (left + right), uv[1] - 0.5 * (top + bottom))
        self.draw.text(xy, label, fill=tuple(colour), font=f)
