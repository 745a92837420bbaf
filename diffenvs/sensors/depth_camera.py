"""Analytic, batched ray casting and a pinhole depth camera against :class:`~diffenvs.worlds.ObstacleWorld`.

Conventions (stated once for the whole module):

* World frame ``z`` up, metres, radians. The camera frame is the body frame
  forward-left-up: the camera looks along its ``+x``, ``+y`` is image left, ``+z`` image up.
  A camera orientation is the rotation matrix camera -> world, ``(N, 3, 3)`` (its columns
  are the camera axes in world coordinates), or a yaw angle ``(N,)`` about world ``z``
  (a level camera); :func:`rotation_from_euler` builds tilted ones (pitch > 0 looks down).
* Images are ``(N, H, W)``: row 0 is the top of the image, column 0 its left edge; pixel
  ``(r, c)`` looks through its centre.
* **Depth is the ray length**: the Euclidean distance from the camera centre to the hit
  along the pixel's ray (not the z-depth along the optical axis); a flat wall at distance
  ``d`` straight ahead reads ``d / cos(angle off the optical axis)``.
* A ray starting inside an obstacle hits it at distance 0 (the camera reads ``near``).

Ray casting runs in two stages: the nearest hit of every ray over all obstacles is
found without autograd, chunked over envs (and rays) so memory stays bounded; when
autograd is recording, the winning obstacle's intersection distance is then recomputed
per ray with gradient, so the result is differentiable in the ray origins and directions
(camera pose) and the obstacle parameters at the cost of ``O(N * rays)`` memory, not
``O(N * rays * obstacles)``. The gradient is that of the analytic entry distance of
the hit surface: it ignores the jumps at silhouette edges, and pixels that miss, are
clamped to ``near``/``max_range`` or start inside an obstacle have zero gradient. Ray
casting is batched torch (CPU or CUDA, float32/float64) without Python loops over envs or
obstacles; a level camera's rays go by image columns. On CPU the first stage is one native call
(``nearest_hits.c``, built on first use like the robots' kernels): per ray and obstacle for rays
cast in 3-D, per column, pixel and obstacle for a level camera, with the same operations as the
tensor versions.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from .. import native
from ..consts import const
from ..worlds.obstacles import KIND_BOX, KIND_CYLINDER, KIND_GROUND, KIND_NONE, KIND_SPHERE, UNBOUNDED, ObstacleWorld

_TINY = 1e-30  # floor under a discriminant before sqrt (finite gradients)
_TINY_A = 1e-18  # floor under |d_xy|^2 of a ray (vertical rays vs vertical cylinders)
_EPS_DIR = 1e-9  # direction components smaller than this are nudged to +-_EPS_DIR (slab divisions)
_BIG = 1e3 * UNBOUNDED  # "unbounded" ray parameter, m


_NATIVE_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nearest_hits.c")


class RayHits(NamedTuple):
    """The nearest hit of each ray (shapes ``(N, ...)`` as the rays')."""

    distance: Tensor  # m along the unit ray, >= 0; +inf where no hit (within max_distance)
    kind: Tensor  # int64: KIND_CYLINDER / KIND_SPHERE / KIND_BOX / KIND_GROUND, KIND_NONE (-1): no hit
    index: Tensor  # int64: slot of the hit obstacle within its type (0 for the ground, -1: no hit)


# ------------------------------------------------------------------ ray-primitive intervals
# Each returns (t_enter, t_exit, ok): the ray parameter interval inside the solid, for rays
# o + t d (unit d) broadcast against obstacle parameters; ok False where the line misses.
def _nudge(d: Tensor) -> Tensor:
    """``d`` with components of magnitude below ``_EPS_DIR`` replaced by ``+-_EPS_DIR``."""
    return torch.where(d.abs() < const(_EPS_DIR, d), torch.full_like(d, _EPS_DIR).copysign(d), d)


def _sphere_interval(o: Tensor, d: Tensor, center: Tensor, radius: Tensor):
    oc = o - center  # (n, 1, K, 3) when the rays of an env share their origin: cheap
    ox, oy, oz = oc[..., 0], oc[..., 1], oc[..., 2]
    b = ox * d[..., 0] + oy * d[..., 1] + oz * d[..., 2]
    c = ox * ox + oy * oy + oz * oz - radius * radius
    disc = b * b - c
    s = disc.clamp(min=_TINY).sqrt()
    return -b - s, -b + s, disc > const(0.0, disc)


def _slab(lo: Tensor, hi: Tensor, o: Tensor, inv_d: Tensor):
    t0, t1 = (lo - o) * inv_d, (hi - o) * inv_d
    return torch.minimum(t0, t1), torch.maximum(t0, t1)


def _cylinder_interval(o: Tensor, d: Tensor, inv_dz: Tensor, xy: Tensor, radius: Tensor, zr: Tensor):
    ox, oy = o[..., 0] - xy[..., 0], o[..., 1] - xy[..., 1]
    dx, dy = d[..., 0], d[..., 1]
    a = (dx * dx + dy * dy).clamp(min=_TINY_A)
    b = ox * dx + oy * dy
    c = ox * ox + oy * oy - radius * radius
    disc = b * b - a * c
    s = disc.clamp(min=_TINY).sqrt()
    inv_a = a.reciprocal()  # 1.0 / a (which torch computes as a.reciprocal() * 1.0)
    tz0, tz1 = _slab(zr[..., 0], zr[..., 1], o[..., 2], inv_dz)
    return torch.maximum((-b - s) * inv_a, tz0), torch.minimum((s - b) * inv_a, tz1), disc > const(0.0, disc)


def _box_interval(o: Tensor, inv_d: Tensor, lo: Tensor, hi: Tensor):
    t0, t1 = _slab(lo, hi, o, inv_d)
    # Elementwise over the three axes: a reduction over a last dimension of 3 is many
    # times slower on CPU than two binary maxima.
    enter = torch.maximum(torch.maximum(t0[..., 0], t0[..., 1]), t0[..., 2])
    exit_ = torch.minimum(torch.minimum(t1[..., 0], t1[..., 1]), t1[..., 2])
    return enter, exit_, torch.ones_like(enter, dtype=torch.bool)


def _ground_interval(o: Tensor, inv_dz: Tensor):
    """The half-space ``z <= 0``."""
    t = -o[..., 2] * inv_dz
    down = inv_dz < const(0.0, inv_dz)
    big = torch.full_like(t, _BIG)
    return torch.where(down, t, -big), torch.where(down, big, t), torch.ones_like(t, dtype=torch.bool)


def _intervals(kind: int, o: Tensor, d: Tensor, inv_d: Tensor, params: dict):
    if kind == KIND_CYLINDER:
        return _cylinder_interval(o, d, inv_d[..., 2], params["cyl_xy"], params["cyl_radius"], params["cyl_z"])
    if kind == KIND_SPHERE:
        return _sphere_interval(o, d, params["sph_center"], params["sph_radius"])
    if kind == KIND_BOX:
        return _box_interval(o, inv_d, params["box_min"], params["box_max"])
    return _ground_interval(o, inv_d[..., 2])


_TYPES = ((KIND_CYLINDER, "cyl_valid", ("cyl_xy", "cyl_radius", "cyl_z")),
          (KIND_SPHERE, "sph_valid", ("sph_center", "sph_radius")),
          (KIND_BOX, "box_valid", ("box_min", "box_max")))


def _entry(enter: Tensor, exit_: Tensor, ok: Tensor) -> tuple[Tensor, Tensor]:
    """Hit distance ``t = max(enter, 0)`` and whether the ray meets the solid ahead
    (``exit > t`` is ``enter < exit and exit > 0``)."""
    t = enter.clamp(min=0)
    return t, ok & (exit_ > t)


def _unbounded_cylinders(world: ObstacleWorld) -> bool:
    """Every real cylinder spans ``[-UNBOUNDED, UNBOUNDED]`` in ``z`` (checked on the host)."""
    z = world.cyl_z
    return bool(((z[..., 0] <= -0.5 * UNBOUNDED) & (z[..., 1] >= 0.5 * UNBOUNDED) | ~world.cyl_valid).all())


def _z_window(s0: Tensor, s1: Tensor, z: Tensor, cz: Tensor, inv_m: Tensor) -> tuple[Tensor, Tensor]:
    """Narrow the horizontal-distance interval ``[s0, s1]`` ``(n, 1, W, K)`` of a solid
    spanning heights ``z`` ``(n, K, 2)`` to where each pixel's ray (height ``cz + m s``,
    ``inv_m = 1 / m`` ``(n, H, W, 1)``) is inside that height range: ``(n, H, W, K)``."""
    za = (z[..., 0] - cz).unsqueeze(1).unsqueeze(1) * inv_m
    zb = (z[..., 1] - cz).unsqueeze(1).unsqueeze(1) * inv_m
    return torch.maximum(s0, torch.minimum(za, zb)), torch.minimum(s1, torch.maximum(za, zb))


def _first_hit(s0: Tensor, s1: Tensor, ids: bool) -> tuple[Tensor, Tensor | None]:
    """Over the last (obstacle) dimension of intervals ``[s0, s1]``: the nearest entry
    ``max(s0, 0)`` of a solid the ray meets ahead (``s1 > max(s0, 0)``, which an empty
    interval ``s0 = s1`` never is; ``+inf`` if none) and its slot (``None`` unless ``ids``)."""
    t = s0.clamp(min=0)
    t = torch.where(s1 > t, t, float("inf"))
    return t.min(-1) if ids else (t.amin(-1), None)


class LevelRays(NamedTuple):
    """The rays of a level camera's ``H x W`` image in the form :func:`_level_hits` uses:
    every column at one azimuth, every pixel at a slope ``m = d_z / |d_xy|``. Leading
    dimensions ``n`` (per env) or ``1`` (shared)."""

    columns: Tensor  # (n, W, 2): unit horizontal direction of each column, world frame
    slope: Tensor  # (n|1, H, W, 1): m
    inv_slope: Tensor  # (n|1, H, W, 1): 1 / m (m nudged away from 0)
    inv_norm: Tensor  # (n|1, R): 1 / |d_xy|, the ray length per metre of horizontal distance
    inv_dz: Tensor  # (n|1, R): 1 / d_z (nudged away from 0)

    @classmethod
    def from_directions(cls, d: Tensor, shape: tuple[int, int]) -> LevelRays:
        """From unit directions ``d`` ``(n, R = H * W, 3)``, row-major ``(H, W)``."""
        n, h, w = d.shape[0], *shape
        norm = d[..., :2].square().sum(-1).clamp(min=_TINY_A).sqrt()  # (n, R)
        inv_norm = norm.reciprocal()
        m = d[..., 2] * inv_norm
        mid = slice(h // 2 * w, (h // 2 + 1) * w)  # any row will do: a column shares its azimuth
        col = d[:, mid, :2] * inv_norm[:, mid].unsqueeze(-1)
        return cls(col, m.view(n, h, w, 1), _nudge(m).reciprocal().view(n, h, w, 1), inv_norm,
                   _nudge(d[..., 2]).reciprocal())

    def rotated(self, yaw: Tensor) -> LevelRays:
        """These rays (a camera-frame set, leading dimension 1) turned by ``yaw`` ``(n,)`` about ``z``."""
        c, s = yaw.cos().view(-1, 1), yaw.sin().view(-1, 1)
        x, y = self.columns[..., 0], self.columns[..., 1]
        return self._replace(columns=torch.stack([c * x - s * y, s * x + c * y], -1))


def _level_hits(world: ObstacleWorld, o: Tensor, rays: LevelRays, ids: bool = True):
    """Stage 1 for a level camera: the rays ``rays`` from one origin per env ``o`` ``(n, 1, 3)``.

    Each primitive is intersected in the vertical plane of each image column, in units of
    horizontal distance ``s`` along the column (the pixel's ray length is ``t = s / |d_xy|``
    and its height ``o_z + m s``): a vertical cylinder's or a box's footprint once per
    column, then, for solids of finite height, the pixel's height window; a sphere as its
    disc in the column's plane. A line that misses a round solid gets the empty interval
    ``s0 = s1`` (discriminant clamped to 0), padding slots a parameter that makes every line
    miss (``c = +inf``, a footprint entry at ``+inf``). The same hits as per-pixel casting, up to rounding, at a
    fraction of the work. Returns ``(t, kind, index)`` ``(n, R)`` (``kind`` and ``index``
    are ``None`` unless ``ids``).
    """
    col = rays.columns
    n, w = col.shape[:2]
    h = rays.slope.shape[1]
    r = h * w
    oxy, cz = o[:, 0, :2], o[:, :, 2]  # (n, 2), (n, 1)
    found = []  # (kind, ray length (n, R), slot (n, R))

    def per_pixel(s: Tensor, slot: Tensor | None, scale: Tensor) -> tuple[Tensor, Tensor | None]:
        s = s.reshape(n, r) * scale
        return s, (slot.reshape(n, r) if ids else None)

    if world.cyl_valid.shape[1]:
        oc = world.cyl_xy - oxy.unsqueeze(1)  # (n, K, 2): axis relative to the camera
        b = torch.einsum("nkc,nwc->nwk", oc, col)  # (n, W, K): the axis's distance along the column
        c = torch.where(world.cyl_valid, oc.square().sum(-1) - world.cyl_radius.square(), float("inf"))
        sq = (b * b - c.unsqueeze(1)).clamp(min=0).sqrt()  # 0 where the column's line misses: s0 = s1, no hit
        if _unbounded_cylinders(world):
            s, slot = _first_hit(b - sq, b + sq, ids)  # (n, W): one solve per column
            s = s.unsqueeze(1).expand(n, h, w)
            slot = slot.unsqueeze(1).expand(n, h, w) if ids else None
        else:
            s0, s1 = _z_window((b - sq).unsqueeze(1), (b + sq).unsqueeze(1), world.cyl_z, cz, rays.inv_slope)
            s, slot = _first_hit(s0, s1, ids)
        found.append((KIND_CYLINDER, *per_pixel(s, slot, rays.inv_norm)))
    if world.sph_valid.shape[1]:
        oc = world.sph_center - o[:, :1]  # (n, K, 3)
        a = torch.einsum("nkc,nwc->nwk", oc[..., :2], col).unsqueeze(1)  # (n, 1, W, K)
        c = torch.where(world.sph_valid, oc.square().sum(-1) - world.sph_radius.square(), float("inf"))
        mm = rays.slope
        aa = const(1.0, mm) + mm * mm  # |(1, m)|^2: (1 + m^2) s^2 - 2 (a + m dz) s + c = 0 on the sphere
        bb = torch.addcmul(a, mm, oc[..., 2].view(n, 1, 1, -1))  # a + m dz, (n, H, W, K)
        sq = torch.addcmul(aa * (-c).view(n, 1, 1, -1), bb, bb).clamp(min=0).sqrt()
        s, slot = _first_hit(bb - sq, bb + sq, ids)  # in units of aa * s: aa > 0 keeps the order
        found.append((KIND_SPHERE, *per_pixel(s, slot, rays.inv_norm / aa.view(-1, r))))
    if world.box_valid.shape[1]:
        inv_u = _nudge(col).reciprocal().unsqueeze(2)  # (n, W, 1, 2)
        lo = (world.box_min[..., :2] - oxy.unsqueeze(1)).unsqueeze(1) * inv_u  # (n, W, K, 2)
        hi = (world.box_max[..., :2] - oxy.unsqueeze(1)).unsqueeze(1) * inv_u
        near_, far_ = torch.minimum(lo, hi), torch.maximum(lo, hi)
        s0 = torch.maximum(near_[..., 0], near_[..., 1])  # (n, W, K): the footprint
        s0 = torch.where(world.box_valid.unsqueeze(1), s0, float("inf")).unsqueeze(1)
        s1 = torch.minimum(far_[..., 0], far_[..., 1]).unsqueeze(1)
        zr = torch.stack([world.box_min[..., 2], world.box_max[..., 2]], -1)
        s, slot = _first_hit(*_z_window(s0, s1, zr, cz, rays.inv_slope), ids)
        found.append((KIND_BOX, *per_pixel(s, slot, rays.inv_norm)))
    t, hit = _entry(*_ground_interval(o, rays.inv_dz))
    ground = hit & world.ground.unsqueeze(1)
    if not ids:
        best = torch.where(ground, t, float("inf"))
        for _, s, _ in found:
            best = torch.minimum(best, s)
        return best, None, None
    best = torch.full((n, r), float("inf"), dtype=col.dtype, device=col.device)
    kind = torch.full((n, r), KIND_NONE, dtype=torch.int64, device=col.device)
    index = torch.full((n, r), -1, dtype=torch.int64, device=col.device)
    for k, s, slot in found:
        best, kind, index = _update(s < best, (s, k, slot), (best, kind, index))
    return _update(ground & (t < best), (t, KIND_GROUND, 0), (best, kind, index))


@torch.no_grad()
def _nearest_hits(world: ObstacleWorld, o: Tensor, d: Tensor, max_distance: float):
    """Stage 1 for one chunk: rays ``d`` ``(n, R, 3)`` from ``o`` ``(n, R or 1, 3)`` -> nearest
    (distance, kind, index) ``(n, R)``."""
    n, r = d.shape[:2]
    inv_d = _nudge(d).reciprocal()
    best = torch.full((n, r), float("inf"), dtype=d.dtype, device=d.device)
    kind = torch.full((n, r), KIND_NONE, dtype=torch.int64, device=d.device)
    index = torch.full((n, r), -1, dtype=torch.int64, device=d.device)
    o4, d4, inv4 = o.unsqueeze(2), d.unsqueeze(2), inv_d.unsqueeze(2)  # (n, R, 1, 3)
    for k, valid, names in _TYPES:
        mask = getattr(world, valid)
        if mask.shape[1] == 0:
            continue
        params = {name: getattr(world, name).unsqueeze(1) for name in names}  # (n, 1, K, ...)
        t, hit = _entry(*_intervals(k, o4, d4, inv4, params))
        t = torch.where(hit & mask.unsqueeze(1), t, float("inf"))
        tmin, arg = t.min(-1)
        better = tmin < best
        best, kind, index = _update(better, (tmin, k, arg), (best, kind, index))
    t, hit = _entry(*_intervals(KIND_GROUND, o, d, inv_d, {}))
    better = hit & world.ground.unsqueeze(1) & (t < best)
    return _within(_update(better, (t, KIND_GROUND, 0), (best, kind, index)), max_distance)


_P, _L, _I = ctypes.c_void_p, ctypes.c_long, ctypes.c_int
_WORLD_ARGS = [_L, _P, _P, _P, _P] + [_L, _P, _P, _P] + [_L, _P, _P, _P] + [_P] * 5
_NATIVE_SIGNATURE = {"nearest_hits": [_L, _L, _I, _P, _P] + _WORLD_ARGS,
                     "level_hits": [_L, _L, _L, _I, _I, _P, _P, _L, _P, _P, _P, _P, _L] + _WORLD_ARGS}


@functools.lru_cache(maxsize=16)
def _native_constants(dtype: torch.dtype, max_distance: float) -> Tensor:
    """The kernel's constants (tolerances, "no hit" distance, range limit and whether it applies),
    made once per dtype and range limit; never written to."""
    return torch.tensor([_TINY, _TINY_A, _EPS_DIR, _BIG, max_distance if max_distance != math.inf else 0.0,
                         float(max_distance != math.inf)], dtype=dtype)


def _native_kernels(world: ObstacleWorld, o: Tensor, rays: tuple[Tensor, ...]) -> tuple | None:
    """The kernels of ``nearest_hits.c`` for these tensors' dtype, or ``None`` where they cannot run
    (not CPU float32/float64 throughout, native kernels off or not built, inside ``torch.compile``),
    for the caller to use the tensor operations."""
    dtype, n = o.dtype, o.shape[0]
    if (dtype not in (torch.float32, torch.float64) or torch.compiler.is_compiling() or not native.enabled()
            or any(v.device.type != "cpu" or v.dtype != dtype for v in (o, *rays))
            or any(v.shape[0] != n or v.device.type != "cpu" or (v.is_floating_point() and v.dtype != dtype)
                   for v in world)):
        return None
    kernels = native.kernels(_NATIVE_SOURCE, {torch.float32: "f32", torch.float64: "f64"}, _NATIVE_SIGNATURE)
    return None if kernels is None else kernels[dtype]


def _native_call(world: ObstacleWorld, n: int, r: int, dtype: torch.dtype, max_distance: float, rays_per_thread: int,
                 call) -> tuple:
    """Run ``call(start, stop, at, args)`` over the envs ``[start, stop)`` (split over torch's threads, at least
    ``rays_per_thread`` rays each), where ``at(t)`` is the address of row ``start`` of ``t`` and ``args`` the world's
    and the outputs' arguments that end every kernel of ``nearest_hits.c``; return its ``(distance, kind, index)``."""
    cyl_xy, cyl_r, cyl_z, cyl_ok, sph_c, sph_r, sph_ok, box_lo, box_hi, box_ok, ground = (
        v.contiguous() for v in world)  # (small: a few obstacles per env)
    cst = _native_constants(dtype, max_distance)
    best = torch.empty(n, r, dtype=dtype)
    kind = torch.empty(n, r, dtype=torch.int64)
    index = torch.empty(n, r, dtype=torch.int64)

    def run(start: int, stop: int) -> None:  # envs [start, stop): each env's rays alone
        def at(t: Tensor) -> int:
            return native.row_address(t, start)

        call(start, stop, at, [cyl_r.shape[1], at(cyl_xy), at(cyl_r), at(cyl_z), at(cyl_ok),
                               sph_r.shape[1], at(sph_c), at(sph_r), at(sph_ok),
                               box_ok.shape[1], at(box_lo), at(box_hi), at(box_ok),
                               at(ground), cst.data_ptr(), at(best), at(kind), at(index)])

    native.parallel_rows(n, run, max(1, rays_per_thread // r))
    return best, kind, index


def _native_nearest(world: ObstacleWorld, o: Tensor, d: Tensor, max_distance: float) -> tuple | None:
    """:func:`_nearest_hits` of all rays as one native call (``nearest_hits.c``: the same operations
    per ray and obstacle, no temporaries); ``None`` where it cannot run (see :func:`_native_kernels`)."""
    kernels = _native_kernels(world, o, (d,))
    if kernels is None or o.shape[0] != d.shape[0]:
        return None
    n, r = d.shape[:2]
    shared = o.shape[1] == 1
    o, d = o.contiguous(), d.contiguous()

    def call(start, stop, at, world_args):
        kernels[0](stop - start, r, int(shared), at(o), at(d), *world_args)

    return _native_call(world, n, r, d.dtype, max_distance, 4096, call)  # at least ~4096 rays per thread


def _native_level(world: ObstacleWorld, o: Tensor, rays: LevelRays, max_distance: float, ids: bool) -> tuple | None:
    """:func:`_level_hits` and :func:`_within` of all envs as one native call (``level_hits`` in
    ``nearest_hits.c``: the same operations per column, pixel and obstacle, no temporaries); ``None``
    where it cannot run (see :func:`_native_kernels`). ``o`` ``(n, 1, 3)``; the rays' tensors have a
    leading dimension ``n`` or ``1`` (shared)."""
    kernels = _native_kernels(world, o, tuple(rays))
    n, w = o.shape[0], rays.columns.shape[1]
    h = rays.slope.shape[1]
    if kernels is None or any(v.shape[0] not in (1, n) for v in rays):
        return None
    o = o.contiguous()
    columns, slope, inv_slope, inv_norm, inv_dz = (v.contiguous() for v in rays)
    per_env = {v.shape[0] for v in (slope, inv_slope, inv_norm, inv_dz)}
    if len(per_env) != 1:
        return None
    col_step = 2 * w if columns.shape[0] > 1 else 0
    ray_step = h * w if per_env == {n} and n > 1 else 0
    unbounded = world.cyl_valid.shape[1] > 0 and _unbounded_cylinders(world)

    def call(start, stop, at, world_args):
        def ray(t: Tensor, step: int) -> int:
            return at(t) if step else t.data_ptr()

        kernels[1](stop - start, h, w, int(ids), int(unbounded), at(o), ray(columns, col_step), col_step,
                   ray(slope, ray_step), ray(inv_slope, ray_step), ray(inv_norm, ray_step), ray(inv_dz, ray_step),
                   ray_step, *world_args)

    best, kind, index = _native_call(world, n, h * w, o.dtype, max_distance, 8192, call)
    return (best, kind, index) if ids else (best, None, None)


def _update(better: Tensor, new: tuple, old: tuple) -> tuple:
    return tuple(torch.where(better, a, b) for a, b in zip(new, old))


def _within(hits: tuple, max_distance: float) -> tuple:
    """``(distance, kind, index)`` with hits beyond ``max_distance`` made misses (``kind`` and
    ``index`` may be ``None``)."""
    if max_distance == math.inf:
        return hits
    best, kind, index = hits
    miss = best > const(max_distance, best)
    if kind is None:
        return best.masked_fill(miss, float("inf")), None, None
    return _update(miss, (float("inf"), KIND_NONE, -1), hits)


def _recompute(world: ObstacleWorld, o: Tensor, d: Tensor, kind: Tensor, index: Tensor) -> Tensor:
    """Stage 2: the hit distance ``(N, R)`` of each ray's winning obstacle, with autograd."""
    n = d.shape[0]
    inv_d = _nudge(d).reciprocal()
    rows = torch.arange(n, device=d.device).unsqueeze(1)
    out = torch.full(kind.shape, float("inf"), dtype=d.dtype, device=d.device)
    for k, valid, names in _TYPES:
        sel = kind == k
        if getattr(world, valid).shape[1] == 0:
            continue
        idx = torch.where(sel, index, 0)
        params = {name: getattr(world, name)[rows, idx] for name in names}  # (N, R, ...)
        t, _ = _entry(*_intervals(k, o, d, inv_d, params))
        out = torch.where(sel, t, out)
    t, _ = _entry(*_intervals(KIND_GROUND, o, d, inv_d, {}))
    return torch.where(kind == KIND_GROUND, t, out)


def ray_cast(world: ObstacleWorld, origins: Tensor, directions: Tensor, max_distance: float = math.inf,
             chunk_elements: int = 1 << 22, columns: tuple[int, int] | None = None, ids: bool = True) -> RayHits:
    """Nearest hit of rays against each env's obstacles (and ground).

    Args:
        world: ``N`` worlds.
        origins: ``(N, 3)`` (one origin for all rays of an env) or ``(N, R, 3)``, m, world frame.
        directions: ``(N, R, 3)`` **unit** vectors, world frame.
        max_distance: hits farther than this count as misses, m.
        chunk_elements: bound on ``rays x obstacles`` processed at once (memory control:
            the first pass peaks near 20 temporaries of this many elements, ~0.3 GB in
            float32 by default; results do not depend on it).
        columns: ``(H, W)`` when the rays of each env are a level camera's ``H x W`` image
            (row-major, one origin per env, every column at one azimuth): every primitive
            is then intersected in the vertical plane of each column (footprints once per
            column; the same hits up to rounding, several times faster).
        ids: find which obstacle each ray hits (``kind``, ``index``); ``False`` may leave
            them ``None`` (no autograd recording: the distance alone is cheaper).

    Returns:
        :class:`RayHits` with ``(N, R)`` fields. ``distance`` is differentiable in
        ``origins``, ``directions`` and the world's float fields whenever autograd is
        recording (wrap in ``torch.no_grad()`` to skip the extra pass).
    """
    n, r = directions.shape[:2]
    if origins.dim() == 2:
        origins = origins.unsqueeze(1)  # (N, 1, 3): broadcast, never expanded (cheaper per-obstacle terms)
    shared = origins.shape[1] == 1
    k_total = sum(world.counts) + 1
    n_chunk = max(1, min(n, chunk_elements // (r * k_total)))
    r_chunk = r if n_chunk > 1 else max(1, min(r, chunk_elements // k_total))
    o_ng, d_ng = origins.detach(), directions.detach()
    needs_grad = _records_grad(world, origins, directions)
    ids = ids or needs_grad  # the recomputation with gradient needs each ray's obstacle
    if columns is not None and shared and r_chunk == r:
        with torch.no_grad():
            best, kind, index = _level_cast(world, o_ng, LevelRays.from_directions(d_ng, columns), max_distance,
                                            n_chunk, ids)
    elif (fast := _native_nearest(world, o_ng, d_ng, max_distance)) is not None:
        best, kind, index = fast
    else:
        parts = []
        for i in range(0, n, n_chunk):
            w = world.rows(slice(i, i + n_chunk))
            o = o_ng[i:i + n_chunk]
            parts.append(_cat_hits([_nearest_hits(w, o if shared else o[:, j:j + r_chunk],
                                                  d_ng[i:i + n_chunk, j:j + r_chunk], max_distance)
                                    for j in range(0, r, r_chunk)], 1))
        best, kind, index = _cat_hits(parts, 0)
    if needs_grad:
        best = _recompute(world, origins, directions, kind, index)
    return RayHits(best, kind, index)


def _records_grad(world: ObstacleWorld, *tensors: Tensor) -> bool:
    """Autograd is recording and a ray or world tensor requires grad."""
    return torch.is_grad_enabled() and (any(t.requires_grad for t in tensors)
                                        or any(v.requires_grad for v in world if v.is_floating_point()))


def _cat_hits(parts: list[tuple], dim: int) -> tuple:
    """Concatenate chunks of ``(distance, kind, index)`` (``kind``, ``index`` may be ``None``)."""
    if len(parts) == 1:
        return parts[0]
    return tuple(None if parts[0][f] is None else torch.cat([p[f] for p in parts], dim) for f in range(3))


@torch.no_grad()
def _level_cast(world: ObstacleWorld, o: Tensor, rays: LevelRays, max_distance: float, n_chunk: int,
                ids: bool, use_native: bool = True) -> tuple:
    """:func:`_level_hits` over chunks of ``n_chunk`` envs (or, where it runs and ``use_native``,
    :func:`_native_level` over all of them); hits beyond ``max_distance`` are misses."""
    fast = _native_level(world, o, rays, max_distance, ids) if use_native else None
    if fast is not None:
        return fast
    n = o.shape[0]
    if n <= n_chunk:
        return _within(_level_hits(world, o, rays, ids), max_distance)

    def rows(v: Tensor, i: int) -> Tensor:
        return v if v.shape[0] == 1 else v[i:i + n_chunk]

    return _cat_hits([_within(_level_hits(world.rows(slice(i, i + n_chunk)), o[i:i + n_chunk],
                                          LevelRays(*(rows(v, i) for v in rays)), ids), max_distance)
                      for i in range(0, n, n_chunk)], 0)


# ----------------------------------------------------------------------------- camera
def rotation_from_euler(yaw: Tensor, pitch: Tensor | None = None, roll: Tensor | None = None) -> Tensor:
    """``(N, 3, 3)`` rotation camera/body -> world, ``R = Rz(yaw) Ry(pitch) Rx(roll)``
    (angles ``(N,)``, rad; pitch > 0 tilts the view down). Differentiable."""
    zero = torch.zeros_like(yaw)
    pitch = zero if pitch is None else pitch
    roll = zero if roll is None else roll
    cy, sy, cp, sp, cr, sr = yaw.cos(), yaw.sin(), pitch.cos(), pitch.sin(), roll.cos(), roll.sin()
    rows = [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr,
            sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr,
            -sp, cp * sr, cp * cr]
    return torch.stack(rows, -1).reshape(*yaw.shape, 3, 3)


@dataclass(frozen=True)
class DepthCameraConfig:
    """A pinhole depth camera.

    Attributes:
        width, height: image size, pixels (default 16x12, as in the residual-FoPG paper).
        hfov_deg: horizontal field of view, degrees; the vertical one follows from the
            aspect ratio with square pixels: ``vfov = 2 atan(tan(hfov / 2) * height / width)``.
        max_range: m; rays that hit nothing, or farther, read ``max_range``.
        near: m; hits closer than ``near`` read ``near``.
        noise_std: σ, m, of unbiased Gaussian noise added to every pixel (drawn with the
            ``gen`` given to :meth:`DepthCamera.render`), after which depth is clamped to
            ``[near, max_range]`` again.
        differentiable: depth carries gradient w.r.t. the camera pose (and the world)
            through the analytic intersection distance; ``False`` (default): no gradient.
        chunk_elements: memory bound of the ray casting (see :func:`ray_cast`).
    """

    width: int = 16
    height: int = 12
    hfov_deg: float = 90.0
    max_range: float = 10.0
    near: float = 0.1
    noise_std: float = 0.0
    differentiable: bool = False
    chunk_elements: int = 1 << 22

    def __post_init__(self):
        if self.width < 1 or self.height < 1:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        if not 0 < self.hfov_deg < 180:
            raise ValueError(f"hfov_deg must be in (0, 180), got {self.hfov_deg}")
        if not 0 <= self.near < self.max_range:
            raise ValueError(f"need 0 <= near < max_range, got near={self.near}, max_range={self.max_range}")
        if self.noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {self.noise_std}")

    @property
    def focal(self) -> float:
        """Focal length, pixels."""
        return 0.5 * self.width / math.tan(math.radians(self.hfov_deg) / 2)

    @property
    def vfov_deg(self) -> float:
        return math.degrees(2 * math.atan(0.5 * self.height / self.focal))


def pixel_directions(cfg: DepthCameraConfig, dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """``(H, W, 3)`` unit ray directions of the pixel centres in the camera frame (x forward, y left, z up)."""
    f = cfg.focal
    u = (torch.arange(cfg.width, dtype=torch.float64) + 0.5 - 0.5 * cfg.width) / f  # + right
    v = (torch.arange(cfg.height, dtype=torch.float64) + 0.5 - 0.5 * cfg.height) / f  # + down
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    dirs = torch.stack([torch.ones_like(uu), -uu, -vv], -1)
    return (dirs / dirs.norm(dim=-1, keepdim=True)).to(dtype=dtype, device=device)


class DepthCamera:
    """A batched pinhole depth camera (one per env) ray-cast against an :class:`ObstacleWorld`.

    Example::

        cam = DepthCamera(DepthCameraConfig(width=16, height=12, max_range=5.0))
        depth = cam.render(world, pos, yaw)  # (N, 12, 16) ray lengths, m
    """

    def __init__(self, cfg: DepthCameraConfig | None = None, **overrides):
        cfg = cfg or DepthCameraConfig()
        if overrides:
            cfg = DepthCameraConfig(**{**cfg.__dict__, **overrides})
        self.cfg = cfg
        self._dirs: dict = {}

    def directions(self, dtype: torch.dtype, device) -> Tensor:
        """``(H * W, 3)`` camera-frame pixel directions (cached per dtype and device)."""
        key = (dtype, torch.device(device))
        if key not in self._dirs:
            self._dirs[key] = pixel_directions(self.cfg, dtype, device).reshape(-1, 3)
        return self._dirs[key]

    def world_rays(self, pos: Tensor, orientation: Tensor) -> tuple[Tensor, Tensor]:
        """Origins ``(N, 3)`` and world-frame unit directions ``(N, H * W, 3)``."""
        if (orientation.dim() != 1 and orientation.shape[-2:] != (3, 3)) or pos.shape[-1] != 3:
            raise ValueError(f"need pos (N, 3) and orientation (N,) yaw or (N, 3, 3), got {tuple(pos.shape)}, "
                             f"{tuple(orientation.shape)}")
        dirs = self.directions(pos.dtype, pos.device)
        if orientation.dim() == 1:  # a yaw: rotate the directions' horizontal part (cheaper than a 3x3 product)
            yaw = orientation.to(pos.dtype).unsqueeze(-1)
            c, s = yaw.cos(), yaw.sin()
            x, y = dirs[:, 0], dirs[:, 1]
            return pos, torch.stack([c * x - s * y, s * x + c * y, dirs[:, 2].expand(c.shape[0], -1)], -1)
        return pos, torch.einsum("nij,rj->nri", orientation.to(pos.dtype), dirs)

    def level_rays(self, dtype: torch.dtype, device) -> LevelRays:
        """The image's rays for a level camera at yaw 0 (camera frame; cached per dtype and device)."""
        key = ("level", dtype, torch.device(device))
        if key not in self._dirs:
            self._dirs[key] = LevelRays.from_directions(self.directions(dtype, device).unsqueeze(0),
                                                        (self.cfg.height, self.cfg.width))
        return self._dirs[key]

    def cast(self, world: ObstacleWorld, pos: Tensor, orientation: Tensor, ids: bool = True) -> RayHits:
        """The raw nearest hits ``(N, H, W)`` (distance ``+inf`` where nothing within ``max_range``);
        differentiable when autograd records, whatever ``cfg.differentiable``; ``ids=False``
        may leave ``kind`` and ``index`` ``None`` (see :func:`ray_cast`)."""
        cfg, n = self.cfg, pos.shape[0]
        shape = (n, cfg.height, cfg.width)
        per_env = cfg.height * cfg.width * (sum(world.counts) + 1)
        if orientation.dim() == 1 and pos.shape[-1:] == (3,) and per_env <= cfg.chunk_elements \
                and not _records_grad(world, pos, orientation):
            # A level camera without gradient: its rays' slopes are fixed, only the column
            # azimuths turn with the yaw (no per-pixel world directions).
            rays = self.level_rays(pos.dtype, pos.device).rotated(orientation.to(pos.dtype))
            hits = _level_cast(world, pos.unsqueeze(1), rays, cfg.max_range, cfg.chunk_elements // per_env, ids)
        else:
            level = orientation.dim() == 1  # yaw only: every image column looks along one azimuth
            o, d = self.world_rays(pos, orientation)
            hits = ray_cast(world, o, d, cfg.max_range, cfg.chunk_elements, (cfg.height, cfg.width) if level else None,
                            ids)
        return RayHits(*(v if v is None else v.reshape(shape) for v in hits))

    def render(self, world: ObstacleWorld, pos: Tensor, orientation: Tensor,
               gen: torch.Generator | None = None, noise: Tensor | None = None) -> Tensor:
        """Depth image ``(N, H, W)``, m: ray length to the nearest hit, in ``[near, max_range]``.

        Args:
            world: ``N`` worlds (same dtype and device as ``pos``).
            pos: ``(N, 3)`` camera centre, m, world frame.
            orientation: ``(N,)`` yaw, rad (level camera), or ``(N, 3, 3)`` rotation camera -> world.
            gen: generator of the depth noise (``cfg.noise_std > 0``); ``None``: torch's default.
            noise: ``(N, H, W)`` standard normal values to scale by ``cfg.noise_std``
                instead of drawing them (e.g. :func:`diffenvs.sensors.noise.hashed_normal`,
                noise that is a function of the env state).
        """
        cfg = self.cfg
        with torch.set_grad_enabled(cfg.differentiable and torch.is_grad_enabled()):
            depth = self.cast(world, pos, orientation, ids=False).distance.clamp(cfg.near, cfg.max_range)
            if cfg.noise_std > 0:
                if noise is None:
                    gdev = gen.device if gen is not None else depth.device
                    noise = torch.randn(depth.shape, generator=gen, dtype=depth.dtype, device=gdev).to(depth.device)
                depth = (depth + const(cfg.noise_std, noise) * noise).clamp(cfg.near, cfg.max_range)
        return depth


def min_pool(depth: Tensor, factor: int) -> Tensor:
    """Downsample ``(N, H, W)`` depth by keeping the nearest reading of each ``factor x factor``
    block (DiffPhysDrone renders 64x48 and pools 4x4 to 16x12)."""
    return -torch.nn.functional.max_pool2d(-depth.unsqueeze(1), factor).squeeze(1)
