"""Batched static obstacle worlds: one world per env, stored as padded tensors.

Conventions (stated once for the whole module):

* World frame, ``z`` up, lengths in metres. The optional ground is the plane ``z = 0``
  with solid below it (``z < 0`` is inside).
* ``N`` envs; each primitive type has a fixed maximum count per env (``Kc`` cylinders,
  ``Ks`` spheres, ``Kb`` boxes), and a ``(N, K)`` bool validity mask marks which entries
  are real obstacles (the rest is padding, ignored everywhere). Padding entries hold
  zeros, so every tensor of a world is finite (worlds can live in an env state).
* Cylinders are vertical (axis along ``z``) and span ``[z_min, z_max]``; a cylinder that is
  "infinite" vertically uses ``z_min = -UNBOUNDED``, ``z_max = UNBOUNDED`` (finite numbers,
  far beyond any scene). Boxes are axis-aligned.
* Signed distances are positive outside, zero on the surface and negative inside an
  obstacle; they are differentiable in the query points (and in the obstacle
  parameters). Where an env has no obstacle at all the distance is ``+inf``.

Everything is pure batched torch (CPU or CUDA, float32 or float64); the only Python loops
are over the primitive *types* (and the fixed number of rejection rounds of the sampler).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from ..consts import const
from ..contract import StateField

#: Half-height, m, of a vertically unbounded cylinder (``z`` range ``[-UNBOUNDED, UNBOUNDED]``).
UNBOUNDED = 1.0e4

#: Obstacle kinds reported by :func:`nearest` and by ray casting (``-1``: none).
KIND_NONE, KIND_CYLINDER, KIND_SPHERE, KIND_BOX, KIND_GROUND = -1, 0, 1, 2, 3
KIND_NAMES = {KIND_CYLINDER: "cylinder", KIND_SPHERE: "sphere", KIND_BOX: "box", KIND_GROUND: "ground"}

_TINY = 1e-30  # floor under squared norms before sqrt (finite gradients at 0)


class ObstacleWorld(NamedTuple):
    """``N`` obstacle worlds (one per env) as padded tensors; see the module docstring.

    All float fields share one dtype and device. Build one with :meth:`from_primitives`
    (a hand-written scene, repeated for every env), :func:`sample_worlds` (random) or
    :meth:`empty`; modify with ``_replace``, :meth:`where`, :meth:`inflate`.
    """

    cyl_xy: Tensor  # (N, Kc, 2) m, world frame: axis position (x, y) of each vertical cylinder
    cyl_radius: Tensor  # (N, Kc) m: cylinder radius
    cyl_z: Tensor  # (N, Kc, 2) m, world frame: (z_min, z_max) of each cylinder
    cyl_valid: Tensor  # (N, Kc) bool: True for real cylinders, False for padding
    sph_center: Tensor  # (N, Ks, 3) m, world frame: sphere centre
    sph_radius: Tensor  # (N, Ks) m: sphere radius
    sph_valid: Tensor  # (N, Ks) bool
    box_min: Tensor  # (N, Kb, 3) m, world frame: lower corner (x, y, z) of each axis-aligned box
    box_max: Tensor  # (N, Kb, 3) m, world frame: upper corner
    box_valid: Tensor  # (N, Kb) bool
    ground: Tensor  # (N,) bool: the ground plane z = 0 (solid below) exists in this env

    # ------------------------------------------------------------------ info
    @property
    def num_envs(self) -> int:
        return self.ground.shape[0]

    @property
    def dtype(self) -> torch.dtype:
        return self.cyl_xy.dtype

    @property
    def device(self) -> torch.device:
        return self.cyl_xy.device

    @property
    def counts(self) -> tuple[int, int, int]:
        """Padded sizes ``(Kc, Ks, Kb)``."""
        return self.cyl_radius.shape[1], self.sph_radius.shape[1], self.box_min.shape[1]

    # ----------------------------------------------------------- construction
    @classmethod
    def empty(cls, num_envs: int, counts: tuple[int, int, int] = (0, 0, 0), ground: bool = False,
              dtype: torch.dtype = torch.float32, device=None) -> ObstacleWorld:
        """Worlds with ``counts = (Kc, Ks, Kb)`` padding slots and no valid obstacle."""
        n, (kc, ks, kb) = num_envs, counts
        f = dict(dtype=dtype, device=device)
        b = dict(dtype=torch.bool, device=device)
        return cls(torch.zeros(n, kc, 2, **f), torch.zeros(n, kc, **f), torch.zeros(n, kc, 2, **f),
                   torch.zeros(n, kc, **b), torch.zeros(n, ks, 3, **f), torch.zeros(n, ks, **f),
                   torch.zeros(n, ks, **b), torch.zeros(n, kb, 3, **f), torch.zeros(n, kb, 3, **f),
                   torch.zeros(n, kb, **b), torch.full((n,), bool(ground), **b))

    @classmethod
    def from_primitives(cls, num_envs: int = 1, *, cylinders: Sequence[Sequence[float]] = (),
                        spheres: Sequence[Sequence[float]] = (), boxes: Sequence[Sequence] = (),
                        ground: bool = False, dtype: torch.dtype = torch.float32, device=None) -> ObstacleWorld:
        """The same hand-written scene in each of ``num_envs`` envs.

        Args:
            cylinders: ``(x, y, radius)`` (vertically unbounded) or ``(x, y, radius, z_min, z_max)``.
            spheres: ``(x, y, z, radius)``.
            boxes: ``((x0, y0, z0), (x1, y1, z1))`` lower and upper corners, or 6 numbers.
            ground: include the ground plane ``z = 0``.
        """
        f = dict(dtype=dtype, device=device)
        cyl = [tuple(c) + ((-UNBOUNDED, UNBOUNDED) if len(c) == 3 else ()) for c in cylinders]
        if any(len(c) != 5 for c in cyl):
            raise ValueError("a cylinder is (x, y, radius) or (x, y, radius, z_min, z_max)")
        if any(len(s) != 4 for s in spheres):
            raise ValueError("a sphere is (x, y, z, radius)")
        bx = [tuple(torch.as_tensor(b, dtype=torch.float64).reshape(-1).tolist()) for b in boxes]
        if any(len(b) != 6 for b in bx):
            raise ValueError("a box is ((x0, y0, z0), (x1, y1, z1))")
        c = torch.tensor(cyl, **f).reshape(-1, 5)
        s = torch.tensor([tuple(v) for v in spheres], **f).reshape(-1, 4)
        b = torch.tensor(bx, **f).reshape(-1, 6)
        if (b[:, 3:] < b[:, :3]).any():
            raise ValueError("a box's upper corner must not be below its lower corner")

        def rep(t: Tensor) -> Tensor:
            return t.unsqueeze(0).expand(num_envs, *t.shape).clone()

        def ones(k: int) -> Tensor:
            return torch.ones(num_envs, k, dtype=torch.bool, device=device)

        return cls(rep(c[:, 0:2]), rep(c[:, 2]), rep(c[:, 3:5]), ones(len(c)), rep(s[:, 0:3]), rep(s[:, 3]),
                   ones(len(s)), rep(b[:, 0:3]), rep(b[:, 3:6]), ones(len(b)),
                   torch.full((num_envs,), bool(ground), dtype=torch.bool, device=device))

    # ------------------------------------------------------------- transforms
    def padded(self, counts: tuple[int, int, int]) -> ObstacleWorld:
        """The same world with ``counts = (Kc, Ks, Kb)`` slots per type (extra slots are
        padding), e.g. to put a hand-made scene into an env state of fixed sizes."""
        have = self.counts
        if any(c < h for c, h in zip(counts, have)):
            raise ValueError(f"cannot pad a world with {have} obstacles per type into {tuple(counts)} slots")
        out = []
        for name, value in zip(self._fields, self):
            if name == "ground":
                out.append(value)
                continue
            extra = counts["csb".index(name[0])] - value.shape[1]
            out.append(torch.cat([value, value.new_zeros(value.shape[0], extra, *value.shape[2:])], 1))
        return ObstacleWorld(*out)

    def to(self, device=None, dtype: torch.dtype | None = None) -> ObstacleWorld:
        """Move to ``device`` and cast the float fields to ``dtype``."""
        return ObstacleWorld(*(v.to(device=device, dtype=dtype if v.is_floating_point() else None) for v in self))

    def rows(self, index) -> ObstacleWorld:
        """The envs ``index`` (a slice, an index tensor or a bool mask; keeps the batch dim)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return ObstacleWorld(*(v[index] for v in self))

    def where(self, mask: Tensor, other: ObstacleWorld) -> ObstacleWorld:
        """Per env: ``self`` where ``mask`` (``(N,)`` bool) else ``other`` (same padded sizes)."""
        return ObstacleWorld(*(torch.where(mask.view(-1, *([1] * (a.dim() - 1))), a, b) for a, b in zip(self, other)))

    def inflate(self, margin: float | Tensor) -> ObstacleWorld:
        """Every obstacle grown by ``margin`` m (radii, box faces and cylinder caps; the
        ground is unchanged): its signed distance becomes ``signed_distance - margin``
        exactly for spheres and cylinder sides, and approximately at box edges and corners."""
        m = torch.as_tensor(margin, dtype=self.dtype, device=self.device)
        cyl_z = self.cyl_z + torch.stack([-m, m]).expand_as(self.cyl_z)
        return self._replace(cyl_radius=self.cyl_radius + m, cyl_z=cyl_z, sph_radius=self.sph_radius + m,
                             box_min=self.box_min - m, box_max=self.box_max + m)

    # ------------------------------------------------------------ env state
    def to_state(self, prefix: str = "world_") -> dict[str, Tensor]:
        """The world as env-state fields ``{prefix + field: tensor}`` (see :func:`world_state_fields`)."""
        return {prefix + k: v for k, v in zip(self._fields, self)}

    @classmethod
    def from_state(cls, state, prefix: str = "world_") -> ObstacleWorld:
        """Inverse of :meth:`to_state`."""
        return cls(*(state[prefix + k] for k in cls._fields))


_FIELD_DOCS = {
    "cyl_xy": ("float", 2, "vertical cylinder axis position (x, y), m, world frame"),
    "cyl_radius": ("float", None, "cylinder radius, m"),
    "cyl_z": ("float", 2, "cylinder (z_min, z_max), m, world frame"),
    "cyl_valid": ("bool", None, "cylinder slot holds a real obstacle"),
    "sph_center": ("float", 3, "sphere centre, m, world frame"),
    "sph_radius": ("float", None, "sphere radius, m"),
    "sph_valid": ("bool", None, "sphere slot holds a real obstacle"),
    "box_min": ("float", 3, "axis-aligned box lower corner, m, world frame"),
    "box_max": ("float", 3, "axis-aligned box upper corner, m, world frame"),
    "box_valid": ("bool", None, "box slot holds a real obstacle"),
}


def world_state_fields(counts: tuple[int, int, int], prefix: str = "world_") -> dict[str, StateField]:
    """:class:`~diffenvs.contract.StateField` declarations of a world with padded sizes
    ``counts = (Kc, Ks, Kb)``, named as :meth:`ObstacleWorld.to_state` names them."""
    kc, ks, kb = counts
    k = {"cyl": kc, "sph": ks, "box": kb}
    out = {}
    for name, (dtype, last, doc) in _FIELD_DOCS.items():
        shape = (k[name[:3]],) + ((last,) if last else ())
        out[prefix + name] = StateField(shape, dtype, doc)
    out[prefix + "ground"] = StateField((), "bool", "ground plane z = 0 exists")
    return out


# --------------------------------------------------------------------------- distances
def _safe_norm(v: Tensor) -> Tensor:
    """Euclidean norm over the last dim with a finite (zero) gradient at 0."""
    return (v * v).sum(-1).clamp(min=_TINY).sqrt()


def _sd_cylinders(p: Tensor, world: ObstacleWorld) -> Tensor:
    """``(N, P, Kc)`` signed distance of points ``(N, P, 3)`` to each cylinder (finite, with caps)."""
    p = p.unsqueeze(2)  # (N, P, 1, 3)
    xy, r, zr = world.cyl_xy.unsqueeze(1), world.cyl_radius.unsqueeze(1), world.cyl_z.unsqueeze(1)
    dr = _safe_norm(p[..., :2] - xy) - r
    dz = torch.maximum(zr[..., 0] - p[..., 2], p[..., 2] - zr[..., 1])
    outside = _safe_norm(torch.stack([dr.clamp(min=0), dz.clamp(min=0)], -1))
    zero = const(0.0, dr)
    return torch.where((dr > zero) & (dz > zero), outside, torch.maximum(dr, dz))


def _sd_spheres(p: Tensor, world: ObstacleWorld) -> Tensor:
    """``(N, P, Ks)``."""
    return _safe_norm(p.unsqueeze(2) - world.sph_center.unsqueeze(1)) - world.sph_radius.unsqueeze(1)


def _sd_boxes(p: Tensor, world: ObstacleWorld) -> Tensor:
    """``(N, P, Kb)``: exact box signed distance (Euclidean outside, to the nearest face inside)."""
    lo, hi = world.box_min.unsqueeze(1), world.box_max.unsqueeze(1)
    half = const(0.5, p)
    q = (p.unsqueeze(2) - half * (lo + hi)).abs() - half * (hi - lo)  # (N, P, Kb, 3)
    outside = _safe_norm(q.clamp(min=0))
    return torch.where((q > const(0.0, q)).sum(-1) >= 2, outside, q.amax(-1))


_SDF = ((KIND_CYLINDER, _sd_cylinders, "cyl_valid"), (KIND_SPHERE, _sd_spheres, "sph_valid"),
        (KIND_BOX, _sd_boxes, "box_valid"))


def _per_kind(world: ObstacleWorld, points: Tensor, include_ground: bool):
    """Yield ``(kind, distances (N, P, K) with +inf at padding)`` per primitive type present."""
    inf = torch.tensor(float("inf"), dtype=points.dtype, device=points.device)
    for kind, fn, valid in _SDF:
        mask = getattr(world, valid)
        if mask.shape[1]:
            yield kind, torch.where(mask.unsqueeze(1), fn(points, world), inf)
    if include_ground:
        yield KIND_GROUND, torch.where(world.ground.view(-1, 1, 1), points[..., 2:3], inf)


def _as_points(points: Tensor) -> tuple[Tensor, bool]:
    if points.shape[-1] != 3 or points.dim() not in (2, 3):
        raise ValueError(f"points must be (N, P, 3) or (N, 3), got {tuple(points.shape)}")
    return (points.unsqueeze(1), True) if points.dim() == 2 else (points, False)


def signed_distance(world: ObstacleWorld, points: Tensor, include_ground: bool = True) -> Tensor:
    """Signed distance, m, from ``points`` to the nearest obstacle surface of their env.

    Args:
        world: ``N`` worlds.
        points: ``(N, P, 3)`` (or ``(N, 3)``), m, world frame.
        include_ground: count the ground plane (where the world has one); a planar robot
            whose points sit at ``z = 0`` passes ``False``.

    Returns:
        ``(N, P)`` (or ``(N,)``): negative inside an obstacle, ``+inf`` where the env has
        no obstacle. Differentiable in ``points`` (the gradient is the outward normal of
        the nearest surface).
    """
    p, squeeze = _as_points(points)
    best = torch.full(p.shape[:2], float("inf"), dtype=p.dtype, device=p.device)
    for _, d in _per_kind(world, p, include_ground):
        best = torch.minimum(best, d.amin(-1))
    return best.squeeze(1) if squeeze else best


def clearance(world: ObstacleWorld, points: Tensor, radius: float | Tensor = 0.0,
              include_ground: bool = True) -> Tensor:
    """Clearance, m, of balls of ``radius`` centred at ``points``: ``signed_distance - radius``
    (``< 0``: in collision). Same shapes as :func:`signed_distance`."""
    return signed_distance(world, points, include_ground) - radius


def in_collision(world: ObstacleWorld, points: Tensor, radius: float | Tensor = 0.0,
                 include_ground: bool = True) -> Tensor:
    """Bool, same shape as :func:`signed_distance`: the ball of ``radius`` at each point
    touches or penetrates an obstacle."""
    return clearance(world, points, radius, include_ground) <= 0


class Nearest(NamedTuple):
    """The nearest obstacle to each query point (see :func:`nearest`)."""

    distance: Tensor  # (N, P) m: signed distance (differentiable in the points; +inf: no obstacle)
    kind: Tensor  # (N, P) int64: KIND_CYLINDER / KIND_SPHERE / KIND_BOX / KIND_GROUND, KIND_NONE (-1) if none
    index: Tensor  # (N, P) int64: slot of that obstacle within its type (0 for the ground, -1 if none)
    normal: Tensor  # (N, P, 3) world frame: unit outward normal (gradient of the distance), no grad; 0 if none


def nearest(world: ObstacleWorld, points: Tensor, include_ground: bool = True) -> Nearest:
    """Distance to, identity of and outward normal at the nearest obstacle of each point
    (``points`` ``(N, P, 3)``; ``(N, 3)`` gives ``(N,)`` fields). A collision penalty can
    push along ``normal`` or weight by the closing speed ``-dot(velocity, normal)``."""
    p, squeeze = _as_points(points)
    shape = p.shape[:2]
    best = torch.full(shape, float("inf"), dtype=p.dtype, device=p.device)
    kind = torch.full(shape, KIND_NONE, dtype=torch.int64, device=p.device)
    index = torch.full(shape, -1, dtype=torch.int64, device=p.device)
    for k, d in _per_kind(world, p, include_ground):
        dmin, arg = d.min(-1)
        better = dmin < best
        best = torch.where(better, dmin, best)
        kind = torch.where(better, k, kind)
        index = torch.where(better, arg, index)
    with torch.enable_grad():
        q = p.detach().requires_grad_(True)
        normal = torch.autograd.grad(signed_distance(world, q, include_ground).sum(), q)[0]
    out = Nearest(best, kind, index, normal)
    return Nearest(*(v.squeeze(1) for v in out)) if squeeze else out


# ----------------------------------------------------------------------------- sampling
Range = tuple[float, float]


@dataclass(frozen=True)
class WorldSamplerConfig:
    """How :func:`sample_worlds` draws random worlds (all lengths in m, world frame).

    Attributes:
        region: ``(x_min, x_max, y_min, y_max)``: obstacle centres are uniform in it.
        cylinders: count per env: an int, or ``(min, max)`` drawn uniformly per env; the
            maximum is the padded size ``Kc``. Likewise ``spheres`` and ``boxes``.
        cylinder_radius: uniform radius range.
        cylinder_height: ``None``: vertically unbounded cylinders; else the range of their
            height, standing on ``z = 0``.
        sphere_radius, sphere_z: uniform radius and centre-height ranges.
        box_size: ``((lx, ly, lz) minimum, (lx, ly, lz) maximum)`` edge lengths; boxes stand on ``z = 0``.
        ground: worlds have the ground plane ``z = 0``.
        keep_out: radius of the disc (in ``x, y``, any height) around each start position
            that no obstacle footprint may enter.
        max_tries: redraws of the obstacles that violate the keep-out; the ones still
            violating afterwards are dropped (marked invalid), so the guarantee always holds.
    """

    region: tuple[float, float, float, float] = (-10.0, 10.0, -10.0, 10.0)
    cylinders: int | tuple[int, int] = 16
    cylinder_radius: Range = (0.2, 0.5)
    cylinder_height: Range | None = None
    spheres: int | tuple[int, int] = 0
    sphere_radius: Range = (0.2, 0.6)
    sphere_z: Range = (0.3, 2.0)
    boxes: int | tuple[int, int] = 0
    box_size: tuple[tuple[float, float, float], tuple[float, float, float]] = ((0.3, 0.3, 0.5), (1.5, 1.5, 2.0))
    ground: bool = True
    keep_out: float = 1.0
    max_tries: int = 8


def _count_range(c) -> tuple[int, int]:
    lo, hi = (c, c) if isinstance(c, int) else tuple(c)
    if not 0 <= lo <= hi:
        raise ValueError(f"obstacle count must be an int >= 0 or (min, max) with 0 <= min <= max, got {c!r}")
    return int(lo), int(hi)


def sample_worlds(num_envs: int, gen: torch.Generator | None = None, cfg: WorldSamplerConfig | None = None,
                  starts: Tensor | None = None, dtype: torch.dtype = torch.float32, device=None) -> ObstacleWorld:
    """Draw ``num_envs`` random worlds.

    Args:
        gen: random generator (draws happen on its device; the same seed gives the same worlds).
        cfg: what to draw (:class:`WorldSamplerConfig`; default 16 unbounded cylinders in a 20 m square).
        starts: positions to keep free, ``(N, 2)``, ``(N, 3)`` or ``(N, S, 2|3)`` m, world
            frame (only ``x, y`` are used): no obstacle footprint comes within
            ``cfg.keep_out`` of them.
        dtype, device: of the result (default: the generator's device).
    """
    cfg = cfg or WorldSamplerConfig()
    gdev = gen.device if gen is not None else torch.device("cpu")
    device = torch.device(device) if device is not None else gdev
    n = num_envs
    f = dict(dtype=dtype, device=gdev)
    x0, x1, y0, y1 = cfg.region
    lo_xy = torch.tensor([x0, y0], **f)
    span_xy = torch.tensor([x1 - x0, y1 - y0], **f)

    def uniform(shape, rng) -> Tensor:
        return rng[0] + (rng[1] - rng[0]) * torch.rand(shape, generator=gen, **f)

    def xy(k: int) -> Tensor:
        return lo_xy + span_xy * torch.rand(n, k, 2, generator=gen, **f)

    def valid(count) -> tuple[int, Tensor]:
        lo, hi = _count_range(count)
        m = torch.randint(lo, hi + 1, (n, 1), generator=gen, device=gdev)
        return hi, torch.arange(hi, device=gdev) < m

    if starts is not None:
        s = starts.to(device=gdev, dtype=dtype)
        s = s.unsqueeze(1) if s.dim() == 2 else s
        s = s[..., :2].unsqueeze(2)  # (N, S, 1, 2)

    def keep_clear(centres: Tensor, footprint_gap, redraw, valid_mask: Tensor) -> tuple[Tensor, Tensor]:
        """Redraw centres ``(N, K, 2)`` whose footprint enters a keep-out disc; drop the rest."""
        if starts is None or centres.shape[1] == 0:
            return centres, valid_mask
        for attempt in range(cfg.max_tries + 1):
            bad = (footprint_gap(centres, s) < cfg.keep_out).any(1)  # (N, K)
            if attempt == cfg.max_tries:
                return centres, valid_mask & ~bad
            centres = torch.where(bad.unsqueeze(-1), redraw(), centres)
        raise AssertionError  # unreachable

    # cylinders
    kc, cyl_valid = valid(cfg.cylinders)
    cyl_r = uniform((n, kc), cfg.cylinder_radius)
    if cfg.cylinder_height is None:
        cyl_z = torch.tensor([-UNBOUNDED, UNBOUNDED], **f).expand(n, kc, 2).clone()
    else:
        cyl_z = torch.stack([torch.zeros(n, kc, **f), uniform((n, kc), cfg.cylinder_height)], -1)
    cyl_xy, cyl_valid = keep_clear(xy(kc), lambda c, s: (c.unsqueeze(1) - s).norm(dim=-1) - cyl_r.unsqueeze(1),
                                   lambda: xy(kc), cyl_valid)
    # spheres
    ks, sph_valid = valid(cfg.spheres)
    sph_r = uniform((n, ks), cfg.sphere_radius)
    sph_z = uniform((n, ks, 1), cfg.sphere_z)
    sph_xy, sph_valid = keep_clear(xy(ks), lambda c, s: (c.unsqueeze(1) - s).norm(dim=-1) - sph_r.unsqueeze(1),
                                   lambda: xy(ks), sph_valid)
    # boxes
    kb, box_valid = valid(cfg.boxes)
    smin, smax = (torch.tensor(v, **f) for v in cfg.box_size)
    size = smin + (smax - smin) * torch.rand(n, kb, 3, generator=gen, **f)
    half_xy = 0.5 * size[..., :2]

    def box_gap(c: Tensor, s: Tensor) -> Tensor:
        return ((c.unsqueeze(1) - s).abs() - half_xy.unsqueeze(1)).clamp(min=0).norm(dim=-1)

    box_xy, box_valid = keep_clear(xy(kb), box_gap, lambda: xy(kb), box_valid)
    zeros = torch.zeros(n, kb, 1, **f)
    box_min = torch.cat([box_xy - half_xy, zeros], -1)
    box_max = torch.cat([box_xy + half_xy, size[..., 2:]], -1)

    def clean(t: Tensor, v: Tensor) -> Tensor:  # padding slots hold zeros
        return torch.where(v.view(*v.shape, *([1] * (t.dim() - v.dim()))), t, torch.zeros((), **f))

    world = ObstacleWorld(clean(cyl_xy, cyl_valid), clean(cyl_r, cyl_valid), clean(cyl_z, cyl_valid), cyl_valid,
                          clean(torch.cat([sph_xy, sph_z], -1), sph_valid), clean(sph_r, sph_valid), sph_valid,
                          clean(box_min, box_valid), clean(box_max, box_valid), box_valid,
                          torch.full((n,), cfg.ground, dtype=torch.bool, device=gdev))
    return world.to(device=device)
