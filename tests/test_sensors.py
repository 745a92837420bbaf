"""Obstacle worlds (diffenvs.worlds) and the analytic depth camera (diffenvs.sensors)."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import load_benchmark

from diffenvs.sensors import DepthCamera, DepthCameraConfig, min_pool, pixel_directions, ray_cast, rotation_from_euler
from diffenvs.worlds import (
    KIND_BOX,
    KIND_CYLINDER,
    KIND_GROUND,
    KIND_NONE,
    KIND_SPHERE,
    ObstacleWorld,
    WorldSamplerConfig,
    clearance,
    in_collision,
    nearest,
    sample_worlds,
    signed_distance,
    world_state_fields,
)

F64 = torch.float64


@pytest.fixture(autouse=True, params=["native", "tensors"])
def ray_backend(request, monkeypatch):
    """Every test runs with the native first stage of ray casting (where a compiler built it) and
    with the tensor one (on CUDA, without a compiler or with ``DIFFENVS_NATIVE=0``), which also
    keeps the level camera's column path under test."""
    if request.param == "tensors":
        from diffenvs import native

        monkeypatch.setattr(native, "enabled", lambda: False)
    return request.param


def wall(d: float, n: int = 1, dtype=F64) -> ObstacleWorld:
    """A big box whose face x = d faces a camera at the origin."""
    return ObstacleWorld.from_primitives(n, boxes=[((d, -100, -100), (d + 1, 100, 100))], dtype=dtype)


def level(n: int = 1, pos=(0.0, 0.0, 0.0), yaw: float = 0.0, dtype=F64):
    return torch.tensor([pos] * n, dtype=dtype), torch.full((n,), yaw, dtype=dtype)


# ------------------------------------------------------------------------------ camera
def test_wall_ray_length():
    cam = DepthCamera(width=9, height=7, hfov_deg=90, max_range=20)
    pos, yaw = level()
    depth = cam.render(wall(4.0), pos, yaw)
    assert depth.shape == (1, 7, 9)
    assert depth[0, 3, 4].item() == pytest.approx(4.0, abs=1e-12)  # centre pixel looks along +x
    cos = pixel_directions(cam.cfg, F64)[..., 0]  # cos of each ray's angle to the optical axis
    torch.testing.assert_close(depth[0], 4.0 / cos)
    # even size (default 16x12): no centre pixel, still d / cos everywhere; a yawed camera facing a rotated view
    cam = DepthCamera(max_range=20)
    depth = cam.render(wall(3.0), *level(yaw=0.0))
    torch.testing.assert_close(depth[0] * pixel_directions(cam.cfg, F64)[..., 0], torch.full((12, 16), 3.0, dtype=F64))
    assert cam.cfg.vfov_deg == pytest.approx(math.degrees(2 * math.atan(math.tan(math.pi / 4) * 12 / 16)))


def test_cylinder_bearing_column():
    w, h, rng, r = 31, 5, 5.0, 0.3
    cam = DepthCamera(width=w, height=h, hfov_deg=90, max_range=20)
    for bearing in (math.radians(20), math.radians(-30)):
        c = (rng * math.cos(bearing), rng * math.sin(bearing))
        world = ObstacleWorld.from_primitives(cylinders=[(*c, r)], dtype=F64)
        depth = cam.render(world, *level())[0, h // 2]  # the level centre row
        dirs = pixel_directions(cam.cfg, F64)[h // 2]
        azimuth = torch.atan2(dirs[:, 1], dirs[:, 0])
        col = int((azimuth - bearing).abs().argmin())
        assert int(depth.argmin()) == col
        # the exact 2-D ray-circle entry of that column's ray
        dx, dy = float(dirs[col, 0]), float(dirs[col, 1])
        b = -(c[0] * dx + c[1] * dy)
        t = -b - math.sqrt(b * b - (c[0] ** 2 + c[1] ** 2 - r * r))
        assert depth[col].item() == pytest.approx(t, abs=1e-9)
        far = (azimuth - bearing).abs() > math.atan(r / (rng - r)) + 2 * math.radians(90 / w)
        assert far.sum() > w // 2 and (depth[far] == 20).all()


def test_nothing_in_view_reads_max_range():
    cam = DepthCamera(max_range=7.5)
    behind = ObstacleWorld.from_primitives(2, spheres=[(-3, 0, 0, 1)], cylinders=[(-2, 2, 0.5)],
                                           boxes=[((-9, -1, -1), (-8, 1, 1))], dtype=F64)
    pos, yaw = level(2)
    assert (cam.render(behind, pos, yaw) == 7.5).all()
    assert (cam.render(ObstacleWorld.empty(2, dtype=F64), pos, yaw) == 7.5).all()
    beyond = ObstacleWorld.from_primitives(2, spheres=[(20, 0, 0, 1)], dtype=F64)
    assert (cam.render(beyond, pos, yaw) == 7.5).all()
    hits = cam.cast(beyond, pos, yaw)
    assert (hits.kind == KIND_NONE).all() and (hits.index == -1).all() and torch.isinf(hits.distance).all()


def test_ground_plane_rows():
    h, height = 1.0, 12
    cam = DepthCamera(width=16, height=height, hfov_deg=90, max_range=50)
    world = ObstacleWorld.from_primitives(1, ground=True, dtype=F64)
    pos = torch.tensor([[0.0, 0.0, h]], dtype=F64)
    for pitch in (0.0, 0.2):
        rot = rotation_from_euler(torch.tensor([0.3], dtype=F64), torch.tensor([pitch], dtype=F64))
        depth = cam.render(world, pos, rot)[0]
        dz = (pixel_directions(cam.cfg, F64) @ rot[0].T)[..., 2]  # world z of each ray
        down = dz < 0
        expected = torch.where(down, (h / -dz).clamp(max=50), torch.full_like(dz, 50.0))
        torch.testing.assert_close(depth, expected)
        if pitch == 0.0:  # level: exactly the lower half of the rows see the ground
            assert (depth[height // 2:] < 50).all() and (depth[: height // 2] == 50).all()
        else:
            assert (depth[height // 2 - 1] < 50).any()
    up = rotation_from_euler(torch.tensor([0.0], dtype=F64), torch.tensor([-1.0], dtype=F64))  # beyond vfov / 2
    assert (cam.render(world, pos, up) == 50).all()
    assert (cam.render(world, -pos, rotation_from_euler(torch.zeros(1, dtype=F64))) == cam.cfg.near).all()  # below
    no_ground = ObstacleWorld.from_primitives(1, ground=False, dtype=F64)
    assert (cam.render(no_ground, pos, torch.zeros(1, dtype=F64)) == 50).all()


def test_near_clipping():
    cam = DepthCamera(width=8, height=6, near=0.2, max_range=5)
    pos, yaw = level()
    assert (cam.render(wall(0.05), pos, yaw) == 0.2).all()
    inside = ObstacleWorld.from_primitives(1, spheres=[(0.5, 0, 0, 1.0)], dtype=F64)  # camera inside the sphere
    assert (cam.render(inside, pos, yaw) == 0.2).all()
    assert (cam.render(wall(0.15), pos, yaw) >= 0.2).all()


def test_noise_statistics_and_determinism():
    sigma, n = 0.1, 128
    cam = DepthCamera(width=16, height=12, max_range=10, noise_std=sigma)
    clean = DepthCamera(width=16, height=12, max_range=10)
    pos, yaw = level(n, dtype=torch.float32)
    world = wall(5.0, n, dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)
    err = cam.render(world, pos, yaw, gen=gen) - clean.render(world, pos, yaw)
    count = err.numel()
    assert abs(err.mean().item()) < 4 * sigma / math.sqrt(count)
    assert err.std().item() == pytest.approx(sigma, rel=0.02)
    a = cam.render(world, pos, yaw, gen=torch.Generator().manual_seed(3))
    b = cam.render(world, pos, yaw, gen=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    near_wall = wall(0.12, 4, dtype=torch.float32)
    noisy = DepthCamera(noise_std=1.0).render(near_wall, *level(4, dtype=torch.float32), gen=gen)
    assert noisy.min() >= 0.1 and noisy.max() <= 10.0  # clamped to [near, max_range] after the noise


def _fd_scene():
    world = ObstacleWorld.from_primitives(
        2, spheres=[(4.0, 1.2, 1.0, 0.7)], cylinders=[(5.0, -1.5, 0.5), (3.0, 0.2, 0.4, 0.0, 0.6)],
        boxes=[((7.0, -3.0, 0.0), (8.0, 3.0, 2.5))], ground=True, dtype=F64)
    pos = torch.tensor([[0.0, 0.0, 1.5], [0.3, -0.2, 1.2]], dtype=F64)
    yaw = torch.tensor([0.1, -0.05], dtype=F64)
    return world, pos, yaw


def test_depth_gradient_matches_finite_differences():
    world, pos0, yaw0 = _fd_scene()
    pitch = torch.tensor([0.35, 0.3], dtype=F64)
    cam = DepthCamera(width=20, height=15, hfov_deg=80, max_range=9.0, differentiable=True)

    def render(pos, yaw):
        return cam.render(world, pos, rotation_from_euler(yaw, pitch))

    jac_pos, jac_yaw = torch.autograd.functional.jacobian(render, (pos0, yaw0), vectorize=True)
    jac_pos = torch.einsum("nhwmj,nm->nhwj", jac_pos, torch.eye(2, dtype=F64))  # own env only
    jac_yaw = torch.einsum("nhwm,nm->nhw", jac_yaw, torch.eye(2, dtype=F64))
    analytic = torch.cat([jac_pos, jac_yaw.unsqueeze(-1)], -1)  # (N, H, W, 4)
    eps = 1e-6
    kinds = cam.cast(world, pos0, rotation_from_euler(yaw0, pitch)).kind
    numeric, same = [], (kinds != KIND_NONE)
    for j in range(4):
        delta = torch.zeros(2, 4, dtype=F64)
        delta[:, j] = eps
        plus, minus = (pos0 + delta[:, :3], yaw0 + delta[:, 3]), (pos0 - delta[:, :3], yaw0 - delta[:, 3])
        numeric.append((render(*plus) - render(*minus)) / (2 * eps))
        for p, y in (plus, minus):
            same &= cam.cast(world, p, rotation_from_euler(y, pitch)).kind == kinds
    numeric = torch.stack(numeric, -1)
    depth = render(pos0, yaw0).detach()
    ok = same & (depth > cam.cfg.near) & (depth < cam.cfg.max_range)
    for kind in (KIND_SPHERE, KIND_CYLINDER, KIND_BOX, KIND_GROUND):
        assert ((kinds == kind) & ok).sum() >= 3, kind  # every primitive is seen and checked
    torch.testing.assert_close(analytic[ok], numeric[ok], rtol=1e-5, atol=1e-6)
    assert analytic[ok].abs().amax(0).min() > 0.01  # each of x, y, z, yaw moves the depth somewhere
    assert (analytic[~(kinds != KIND_NONE)] == 0).all()  # misses: max_range, no gradient
    # the top cap of the short cylinder is hit (index 1), through the z-slab
    assert ((kinds == KIND_CYLINDER) & (cam.cast(world, pos0, rotation_from_euler(yaw0, pitch)).index == 1)).any()


def test_not_differentiable_by_default():
    world, pos, yaw = _fd_scene()
    pos.requires_grad_(True)
    yaw.requires_grad_(True)
    depth = DepthCamera().render(world, pos, yaw)
    assert not depth.requires_grad and depth.grad_fn is None
    depth = DepthCamera(differentiable=True).render(world, pos, yaw)
    assert depth.requires_grad
    with torch.no_grad():
        assert not DepthCamera(differentiable=True).render(world, pos, yaw).requires_grad


def test_batched_equals_per_env_and_chunking():
    gen = torch.Generator().manual_seed(1)
    n = 6
    cfg = WorldSamplerConfig(region=(-6, 6, -6, 6), cylinders=(2, 6), cylinder_height=(0.5, 3.0), spheres=(0, 3),
                             boxes=(1, 3), keep_out=1.0)
    pos = torch.cat([torch.rand(n, 2, generator=gen) * 2 - 1, torch.rand(n, 1, generator=gen) + 0.2], -1).double()
    world = sample_worlds(n, gen, cfg, starts=pos, dtype=F64)
    rot = rotation_from_euler(torch.rand(n, generator=gen, dtype=F64) * 6, torch.full((n,), 0.2, dtype=F64))
    cam = DepthCamera(width=24, height=18, max_range=8.0)
    batched = cam.render(world, pos, rot)
    assert (batched < 8).float().mean() > 0.3  # a scene with plenty of hits
    for i in range(n):
        torch.testing.assert_close(batched[i : i + 1], cam.render(world.rows(i), pos[i : i + 1], rot[i : i + 1]),
                                   rtol=0, atol=1e-12)
    yaw = torch.rand(n, generator=gen, dtype=F64) * 6  # a level camera (the column path)
    level = cam.render(world, pos, yaw)
    for i in range(n):
        torch.testing.assert_close(level[i : i + 1], cam.render(world.rows(i), pos[i : i + 1], yaw[i : i + 1]),
                                   rtol=0, atol=1e-12)
    for chunk in (1000, 5000, 20000):  # chunks over envs and over rays give the same image
        tiny = DepthCamera(width=24, height=18, max_range=8.0, chunk_elements=chunk)
        torch.testing.assert_close(tiny.render(world, pos, rot), batched, rtol=0, atol=0)
        torch.testing.assert_close(tiny.render(world, pos, yaw), level, rtol=0, atol=1e-12)
    # float32 agrees with float64
    img32 = cam.render(world.to(dtype=torch.float32), pos.float(), rot.float())
    torch.testing.assert_close(img32.double(), batched, rtol=0, atol=1e-3)


def test_large_images_and_pooling():
    cam = DepthCamera(width=84, height=84, chunk_elements=1 << 16)
    world = sample_worlds(3, torch.Generator().manual_seed(0), WorldSamplerConfig(spheres=4, boxes=4),
                          starts=torch.zeros(3, 2))
    depth = cam.render(world, torch.tensor([[0.0, 0.0, 0.5]] * 3), torch.zeros(3))
    assert depth.shape == (3, 84, 84) and depth.dtype == torch.float32
    pooled = min_pool(depth, 4)
    assert pooled.shape == (3, 21, 21)
    assert torch.equal(pooled[:, 0, 0], depth[:, :4, :4].amin((-1, -2)))


def test_ray_cast_hits_and_gradients():
    world = ObstacleWorld.from_primitives(1, spheres=[(3, 0, 0, 1)], boxes=[((0, 5, -1), (1, 6, 1))], dtype=F64)
    o = torch.zeros(1, 3, dtype=F64, requires_grad=True)
    d = torch.tensor([[[1.0, 0, 0], [0, 1, 0], [0, 0, 1]]], dtype=F64)
    hits = ray_cast(world, o, d)
    assert hits.kind.tolist() == [[KIND_SPHERE, KIND_BOX, KIND_NONE]] and hits.index.tolist() == [[0, 0, -1]]
    torch.testing.assert_close(hits.distance[0, :2], torch.tensor([2.0, 5.0], dtype=F64))
    (g,) = torch.autograd.grad(hits.distance[0, :2].sum(), o)
    torch.testing.assert_close(g, torch.tensor([[-1.0, -1.0, 0.0]], dtype=F64))
    assert ray_cast(world, o, d, max_distance=4.0).kind.tolist() == [[KIND_SPHERE, KIND_NONE, KIND_NONE]]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    world, pos, yaw = _fd_scene()
    cam = DepthCamera(width=32, height=24)
    cpu = cam.render(world.to(dtype=torch.float32), pos.float(), yaw.float())
    gpu = cam.render(world.to("cuda", torch.float32), pos.float().cuda(), yaw.float().cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-4)


# ------------------------------------------------------------------------------ worlds
def test_signed_distance_hand_values():
    world = ObstacleWorld.from_primitives(
        1, cylinders=[(0, 0, 0.5), (10, 0, 1.0, 0.0, 2.0)], spheres=[(0, 10, 1, 2)],
        boxes=[((-11, -1, 0), (-9, 1, 4))], dtype=F64)
    cases = [  # point, expected distance, kind, index
        ((2.0, 0, 5), 1.5, KIND_CYLINDER, 0), ((0.1, 0, -3), -0.4, KIND_CYLINDER, 0),  # unbounded cylinder
        ((10, 3, 1), 2.0, KIND_CYLINDER, 1), ((10, 0, 3.0), 1.0, KIND_CYLINDER, 1),  # finite: side, above the cap
        ((12, 0, 3), math.sqrt(2), KIND_CYLINDER, 1), ((10, 0.2, 1.9), -0.1, KIND_CYLINDER, 1),  # rim, inside
        ((0, 13, 1), 1.0, KIND_SPHERE, 0), ((0, 10, 0.5), -1.5, KIND_SPHERE, 0),
        ((-10, 3, 2), 2.0, KIND_BOX, 0), ((-7, 2, 2), math.sqrt(5), KIND_BOX, 0),  # face, edge
        ((-8, 2, 5), math.sqrt(3), KIND_BOX, 0), ((-10, 0.5, 1), -0.5, KIND_BOX, 0),  # corner, inside
    ]
    pts = torch.tensor([[c[0] for c in cases]], dtype=F64, requires_grad=True)
    sd = signed_distance(world, pts)
    torch.testing.assert_close(sd[0], torch.tensor([c[1] for c in cases], dtype=F64))
    near = nearest(world, pts)
    assert near.kind[0].tolist() == [c[2] for c in cases] and near.index[0].tolist() == [c[3] for c in cases]
    (g,) = torch.autograd.grad(sd.sum(), pts)
    torch.testing.assert_close(g, near.normal)
    torch.testing.assert_close(g.norm(dim=-1), torch.ones(1, len(cases), dtype=F64))
    torch.testing.assert_close(near.normal[0, 0], torch.tensor([1.0, 0, 0], dtype=F64))
    torch.testing.assert_close(near.normal[0, 8], torch.tensor([0, 1.0, 0], dtype=F64))
    # the ground, (N, 3) points, clearance and collision
    grounded = world._replace(ground=torch.ones(1, dtype=torch.bool))
    p = torch.tensor([[5.0, 5.0, 0.7]], dtype=F64)
    assert signed_distance(grounded, p).item() == pytest.approx(0.7)
    assert nearest(grounded, p).kind.item() == KIND_GROUND
    assert signed_distance(grounded, p, include_ground=False).item() > 0.7
    assert clearance(grounded, p, 0.5).item() == pytest.approx(0.2)
    assert in_collision(grounded, p, 0.8).item() and not in_collision(grounded, p, 0.6).item()
    inflated = world.inflate(0.25)
    exact = [0, 1, 2, 3, 5, 6, 7]  # sides, caps and spheres grow exactly (not the cylinder rim, index 4)
    torch.testing.assert_close(signed_distance(inflated, pts.detach())[0, exact], sd.detach()[0, exact] - 0.25)


def test_padding_mask():
    world = ObstacleWorld.from_primitives(2, spheres=[(0, 0, 0, 1)], cylinders=[(5, 0, 1)],
                                          boxes=[((-5, -1, -1), (-4, 1, 1))], dtype=F64)
    p = torch.tensor([[[0.0, 0, 2]], [[0.0, 0, 2]]], dtype=F64)
    masked = world._replace(sph_valid=torch.tensor([[True], [False]]))
    sd = signed_distance(masked, p)
    assert sd[0, 0].item() == pytest.approx(1.0) and sd[1, 0].item() == pytest.approx(4.0)  # the cylinder
    none = world._replace(sph_valid=torch.zeros(2, 1, dtype=torch.bool), cyl_valid=torch.zeros(2, 1, dtype=torch.bool),
                          box_valid=torch.zeros(2, 1, dtype=torch.bool))
    assert torch.isinf(signed_distance(none, p)).all()
    assert (nearest(none, p).kind == KIND_NONE).all() and (nearest(none, p).normal == 0).all()
    cam = DepthCamera(max_range=9)
    assert (cam.render(none, p[:, 0] - torch.tensor([3.0, 0, 2]), torch.zeros(2, dtype=F64)) == 9).all()
    # a masked sphere in front of the camera is invisible
    img = cam.render(masked, torch.tensor([[-3.0, 0, 0]] * 2, dtype=F64), torch.zeros(2, dtype=F64))
    assert img[0].min().item() == pytest.approx(2.0, abs=0.05) and img[1].min().item() >= 7.0  # the cylinder behind


def test_sampling_determinism_and_keep_out():
    cfg = WorldSamplerConfig(region=(-4, 4, -4, 4), cylinders=(3, 10), spheres=5, boxes=(0, 4), keep_out=1.5,
                             cylinder_height=(1.0, 2.0))
    n = 64
    starts = torch.rand(n, 2, 2, generator=torch.Generator().manual_seed(9)) * 4 - 2
    a = sample_worlds(n, torch.Generator().manual_seed(5), cfg, starts=starts)
    b = sample_worlds(n, torch.Generator().manual_seed(5), cfg, starts=starts)
    c = sample_worlds(n, torch.Generator().manual_seed(6), cfg, starts=starts)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a.cyl_xy, c.cyl_xy)
    assert a.counts == (10, 5, 4) and a.dtype == torch.float32 and a.ground.all()
    assert (a.cyl_valid.sum(1) <= 10).all() and a.cyl_valid.sum() > 3 * n  # most obstacles survive
    for field in a:
        assert torch.isfinite(field.float()).all()
    # keep-out: no obstacle footprint (in x, y) comes within 1.5 m of a start
    s2 = starts.unsqueeze(2)  # (N, S, 1, 2)
    gaps = [((a.cyl_xy.unsqueeze(1) - s2).norm(dim=-1) - a.cyl_radius.unsqueeze(1), a.cyl_valid),
            ((a.sph_center[..., :2].unsqueeze(1) - s2).norm(dim=-1) - a.sph_radius.unsqueeze(1), a.sph_valid)]
    lo, hi = a.box_min[..., :2].unsqueeze(1), a.box_max[..., :2].unsqueeze(1)
    gaps.append((torch.maximum(lo - s2, s2 - hi).clamp(min=0).norm(dim=-1), a.box_valid))
    for gap, valid in gaps:
        assert (gap.amin(1)[valid] >= 1.5 - 1e-5).all()
    # a robot of radius 1.5 at a start at any height is collision-free
    pts = torch.cat([starts, torch.full((n, 2, 1), 1.0)], -1)
    assert not in_collision(a, pts, 1.49, include_ground=False).any()
    # padding slots are zero; radii inside the configured range
    assert (a.sph_radius[~a.sph_valid] == 0).all() and (a.box_max[~a.box_valid] == 0).all()
    r = a.cyl_radius[a.cyl_valid]
    assert r.min() >= 0.2 and r.max() <= 0.5
    # env state round trip
    fields = world_state_fields(a.counts)
    state = a.to_state()
    assert set(state) == set(fields)
    for k, f in fields.items():
        assert state[k].shape == (n, *f.shape)
    assert all(torch.equal(x, y) for x, y in zip(ObstacleWorld.from_state(state), a))
    mixed = a.where(torch.arange(n) % 2 == 0, c)
    assert torch.equal(mixed.cyl_xy[0], a.cyl_xy[0]) and torch.equal(mixed.cyl_xy[1], c.cyl_xy[1])


def test_bench_quick(monkeypatch):
    rows = load_benchmark("bench_depth", monkeypatch).main(["--quick"])["rows"]
    assert rows and all(row["fwd"] > 0 for row in rows)


def test_config_validation_and_overrides():
    for bad in (dict(width=0), dict(hfov_deg=180), dict(near=5.0, max_range=5.0), dict(noise_std=-1)):
        with pytest.raises(ValueError):
            DepthCameraConfig(**bad)
    cam = DepthCamera(DepthCameraConfig(width=84, height=84), max_range=3.0)
    assert (cam.cfg.width, cam.cfg.height, cam.cfg.max_range, cam.cfg.hfov_deg) == (84, 84, 3.0, 90.0)
    assert cam.cfg.vfov_deg == pytest.approx(90.0)
    with pytest.raises(ValueError):
        cam.render(ObstacleWorld.empty(1), torch.zeros(1, 2), torch.zeros(1))


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_level_camera_columns_match_per_pixel_casting(dtype):
    """A level camera intersects each primitive in the plane of each image column: the same
    hits (kind, slot, distance up to rounding) as casting every pixel's ray in 3-D."""
    gen = torch.Generator().manual_seed(3)
    n = 16
    cfg = WorldSamplerConfig(region=(-8, 8, -8, 8), cylinders=(10, 20), spheres=(2, 5), sphere_z=(0.0, 1.0),
                             boxes=(2, 5), keep_out=1.0)
    world = sample_worlds(n, gen, cfg, starts=torch.zeros(n, 2), dtype=dtype)
    pos = torch.cat([torch.zeros(n, 2, dtype=dtype), torch.full((n, 1), 0.3, dtype=dtype)], -1)
    yaw = torch.rand(n, generator=gen, dtype=dtype) * 6.3
    cam = DepthCamera(width=16, height=12, max_range=10.0)
    o, d = cam.world_rays(pos, yaw)
    tol = 1e-3 if dtype == torch.float32 else 1e-10

    def same_hits(world):
        columns = ray_cast(world, o, d, 10.0, columns=(12, 16))
        pixels = ray_cast(world, o, d, 10.0)
        assert torch.equal(ray_cast(world, o, d, 10.0, columns=(12, 16), ids=False).distance, columns.distance)
        assert torch.equal(columns.kind, pixels.kind) and torch.equal(columns.index, pixels.index)
        hit = torch.isfinite(pixels.distance)
        assert torch.equal(torch.isfinite(columns.distance), hit)
        torch.testing.assert_close(columns.distance[hit], pixels.distance[hit], rtol=0, atol=tol)
        return pixels

    pixels = same_hits(world)
    for kind in (KIND_CYLINDER, KIND_SPHERE, KIND_BOX, KIND_GROUND):  # a scene that exercises every primitive
        assert (pixels.kind == kind).sum() >= 10, kind
    # The camera takes the column path for a yaw (level) orientation.
    torch.testing.assert_close(cam.render(world, pos, yaw), pixels.distance.reshape(n, 12, 16).clamp(0.1, 10.0),
                               rtol=0, atol=tol)
    # Cylinders of finite height: their height window per pixel (their tops are seen).
    short = world._replace(cyl_z=torch.stack([torch.zeros_like(world.cyl_radius), world.cyl_radius + 0.1], -1))
    assert (same_hits(short).kind == KIND_CYLINDER).sum() < (pixels.kind == KIND_CYLINDER).sum()
    # A camera inside a box and inside a sphere reads 0 there.
    inside = world._replace(box_min=world.box_min.clone(), box_max=world.box_max.clone(),
                            box_valid=torch.ones_like(world.box_valid))
    inside.box_min[:, 0] = torch.tensor([-0.5, -0.5, 0.0], dtype=dtype)
    inside.box_max[:, 0] = torch.tensor([0.5, 0.5, 1.0], dtype=dtype)
    assert (same_hits(inside).distance == 0).all()


def test_hashed_noise_is_a_function_of_key_and_counter():
    from diffenvs.sensors.noise import hashed_normal

    key = torch.arange(2000, dtype=torch.int64) * 7919
    step = torch.full((2000,), 5, dtype=torch.int64)
    x = hashed_normal(key, step, (12, 16), F64)
    assert x.shape == (2000, 12, 16)
    assert abs(float(x.mean())) < 0.01 and abs(float(x.std()) - 1.0) < 0.01
    assert abs(float((x.abs() < 1).double().mean()) - 0.6827) < 0.01
    assert torch.equal(x, hashed_normal(key, step, (12, 16), F64))  # the same state sees the same noise
    y = hashed_normal(key, step + 1, (12, 16), F64)
    assert abs(float(torch.corrcoef(torch.stack([x.flatten(), y.flatten()]))[0, 1])) < 0.01
    assert torch.equal(hashed_normal(key[5:6], step[5:6], (12, 16), F64), x[5:6])  # per row, batch independent
    # Both normals of each Box-Muller pair are used: the two halves are uncorrelated.
    flat = x.reshape(2000, -1)
    assert abs(float(torch.corrcoef(torch.stack([flat[:, :96].flatten(), flat[:, 96:].flatten()]))[0, 1])) < 0.01
    odd = hashed_normal(key, step, (3, 5), F64)
    assert odd.shape == (2000, 3, 5) and abs(float(odd.std()) - 1.0) < 0.02
