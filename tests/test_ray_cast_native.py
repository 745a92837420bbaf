"""The native first stage of ray casting (``nearest_hits.c``) against the tensor one."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import load_benchmark

from diffenvs import native
from diffenvs.sensors import depth_camera as dc
from diffenvs.worlds.obstacles import WorldSamplerConfig, sample_worlds


def _scene(dtype, n=24, r=300, seed=0):
    gen = torch.Generator().manual_seed(seed)
    cfg = WorldSamplerConfig(region=(-4.0, 4.0, -4.0, 4.0), cylinders=(3, 8), cylinder_height=(0.5, 2.0),
                             spheres=(0, 3), boxes=(1, 3), keep_out=0.0)
    world = sample_worlds(n, gen, cfg, dtype=dtype)
    world = world._replace(ground=torch.arange(n) % 5 != 0)  # some envs without ground
    o = torch.rand(n, 1, 3, generator=gen, dtype=dtype) * torch.tensor([8.0, 8.0, 2.5], dtype=dtype) \
        - torch.tensor([4.0, 4.0, 0.2], dtype=dtype)  # some below the ground, some inside obstacles
    d = torch.randn(n, r, 3, generator=gen, dtype=dtype)
    d[:, :5] = torch.tensor([0.0, 0.0, -1.0], dtype=dtype)  # straight down and up: the nudged slabs
    d[:, 5:10] = torch.tensor([0.0, 0.0, 1.0], dtype=dtype)
    d[:, 10:15, 2] = 0.0  # level
    d = d / d.norm(dim=-1, keepdim=True)
    o[3] = float("nan")  # a diverged env: no hits
    return world, o, d


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("max_distance", [math.inf, 3.0])
@pytest.mark.parametrize("shared", [True, False])
def test_native_nearest_hits_equal_the_tensor_ones(dtype, max_distance, shared):
    world, o, d = _scene(dtype)
    if not shared:
        o = o + 0.3 * torch.randn(d.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    fast = dc._native_nearest(world, o, d, max_distance)
    if fast is None:
        pytest.skip(f"native kernels unavailable: {native.status(dc._NATIVE_SOURCE)}")
    ref = dc._nearest_hits(world, o, d, max_distance)
    kinds = ref[1].unique().tolist()
    assert {-1, 0, 1, 2, 3} <= set(kinds) or max_distance != math.inf  # every kind is hit somewhere
    assert torch.equal(fast[1], ref[1]) and torch.equal(fast[2], ref[2])
    # the same hits; a float32 distance may differ in its last bits where -b - s cancels (1 µm)
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(fast[0], ref[0], rtol=tol, atol=tol)
    assert torch.isinf(fast[0][3]).all() and (fast[1][3] == -1).all()


def _level_scene(dtype, unbounded: bool, per_env_rays: bool, n=24, h=12, w=16):
    world, o, _ = _scene(dtype, n=n)
    if unbounded:  # every cylinder through all heights: one solve per column
        world = world._replace(cyl_z=torch.tensor([-1.0, 1.0], dtype=dtype) * 1e4 + 0 * world.cyl_z)
    world = world._replace(sph_valid=world.sph_valid & (torch.arange(n) % 3 != 1).unsqueeze(1))  # padding slots
    cam = dc.DepthCamera(height=h, width=w, hfov_deg=120.0)
    yaw = torch.rand(n, generator=torch.Generator().manual_seed(2), dtype=dtype) * 7 - 3.5
    if per_env_rays:  # as ray_cast builds them from each env's directions
        _, d = cam.world_rays(o.squeeze(1), yaw)
        rays = dc.LevelRays.from_directions(d, (h, w))
    else:  # as a level camera without gradient turns its shared rays
        rays = cam.level_rays(dtype, "cpu").rotated(yaw)
    return world, o, rays


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("max_distance", [math.inf, 3.0])
@pytest.mark.parametrize("unbounded", [False, True])
@pytest.mark.parametrize("per_env_rays", [False, True])
def test_native_level_hits_equal_the_tensor_ones(dtype, max_distance, unbounded, per_env_rays):
    """The level camera's column casting (``level_hits``) as the tensors do it, with the obstacle ids and
    without, whether or not every cylinder is unbounded, with shared and per-env rays."""
    world, o, rays = _level_scene(dtype, unbounded, per_env_rays)
    assert dc._unbounded_cylinders(world) == unbounded
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    for ids in (True, False):
        fast = dc._native_level(world, o, rays, max_distance, ids)
        if fast is None:
            pytest.skip(f"native kernels unavailable: {native.status(dc._NATIVE_SOURCE)}")
        ref = dc._within(dc._level_hits(world, o, rays, ids), max_distance)
        if ids:
            assert {-1, 0, 1, 2, 3} <= set(ref[1].unique().tolist()) or max_distance != math.inf
            assert torch.equal(fast[1], ref[1]) and torch.equal(fast[2], ref[2])
        else:
            assert fast[1] is None and fast[2] is None
        torch.testing.assert_close(fast[0], ref[0], rtol=tol, atol=tol)
        assert torch.isinf(fast[0][3]).all()  # the diverged env sees nothing


def test_native_level_hits_split_over_threads_equal_one_thread():
    world, o, rays = _level_scene(torch.float32, False, False, n=80)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = dc._native_level(world, o, rays, math.inf, True)
        torch.set_num_threads(3)
        many = dc._native_level(world, o, rays, math.inf, True)
    finally:
        torch.set_num_threads(threads)
    if one is None:
        pytest.skip("native kernels unavailable")
    assert all(torch.equal(a, b) for a, b in zip(one, many))


def test_ray_cast_uses_it_with_the_same_gradients():
    world, o, d = _scene(torch.float64, n=6, r=50)
    o = o[[0, 1, 2, 4, 5]].squeeze(1).requires_grad_()
    d = d[[0, 1, 2, 4, 5]]
    world = world.rows(torch.tensor([0, 1, 2, 4, 5]))
    hits = dc.ray_cast(world, o, d)
    hits.distance[torch.isfinite(hits.distance)].sum().backward()
    grad = o.grad.clone()
    o.grad = None
    native_was = native.enabled
    try:
        native.enabled = lambda: False
        ref = dc.ray_cast(world, o, d)
        ref.distance[torch.isfinite(ref.distance)].sum().backward()
    finally:
        native.enabled = native_was
    assert torch.equal(hits.kind, ref.kind) and torch.equal(hits.index, ref.index)
    torch.testing.assert_close(hits.distance, ref.distance, rtol=0, atol=0)
    torch.testing.assert_close(grad, o.grad, rtol=0, atol=0)


def test_threaded_calls_equal_one_thread():
    world, o, d = _scene(torch.float32, n=40, r=400)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = dc._native_nearest(world, o, d, math.inf)
        torch.set_num_threads(3)
        many = dc._native_nearest(world, o, d, math.inf)
    finally:
        torch.set_num_threads(threads)
    if one is None:
        pytest.skip("native kernels unavailable")
    assert all(torch.equal(a, b) for a, b in zip(one, many))


def test_bench_quick(monkeypatch):
    world, o, d = _scene(torch.float32, n=6, r=20)
    if dc._native_nearest(world, o, d, 1.0) is None:
        pytest.skip("native kernels unavailable")
    rows = load_benchmark("bench_ray_cast_native", monkeypatch).main(["--quick"])["rows"]
    assert rows and all(row["native"] > 0 and row["tensors"] > 0 for row in rows)
