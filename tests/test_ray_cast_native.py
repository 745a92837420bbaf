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
