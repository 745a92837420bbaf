"""The depth camera against a trusted reference: MuJoCo's ray casting (``mj_multiRay``) on the
same worlds, written as MJCF models by ``benchmarks/bench_depth_peers.py``, with the same rays."""

import pathlib

import pytest
import torch

from diffenvs.sensors import DepthCamera, DepthCameraConfig
from diffenvs.sensors.depth_camera import rotation_from_euler
from diffenvs.worlds import WorldSamplerConfig, sample_worlds

pytest.importorskip("mujoco")
ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def peers(monkeypatch):
    from test_examples import load

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as when the script runs from its folder
    return load(ROOT / "benchmarks" / "bench_depth_peers.py")


@pytest.mark.parametrize("tilted", [False, True], ids=["level", "tilted"])
def test_depth_equals_mujoco_ray_casting(peers, tilted):
    """Level cameras among unbounded cylinders (the level fast path), and tilted, rolled cameras
    higher up among cylinders of finite height (the general per-ray path, cylinder caps seen
    from above): every pixel equals MuJoCo's ray length to 1e-9 m in float64."""
    n, gen = 6, torch.Generator().manual_seed(3)
    cfg = WorldSamplerConfig(cylinders=12, spheres=4, boxes=4, keep_out=1.0, region=(-6.0, 6.0, -6.0, 6.0),
                             cylinder_height=(0.5, 2.0) if tilted else None)
    starts = (torch.rand(n, 2, generator=gen, dtype=torch.float64) - 0.5) * 8
    world = sample_worlds(n, gen, cfg, starts=starts, dtype=torch.float64)
    height = 2.5 if tilted else 0.5
    pos = torch.cat([starts, torch.full((n, 1), height, dtype=torch.float64)], -1)
    yaw = torch.rand(n, generator=gen, dtype=torch.float64) * 2 * torch.pi
    orientation = rotation_from_euler(yaw, torch.full_like(yaw, 0.5), torch.full_like(yaw, 0.2)) if tilted else yaw
    cam = DepthCamera(DepthCameraConfig(width=24, height=18, max_range=10.0))
    _, dirs = cam.world_rays(pos, orientation)
    mj = peers.MujocoCameras(world, pos, dirs, cam.cfg.max_range)
    ours = cam.render(world, pos, orientation).reshape(n, -1).numpy()
    theirs = mj.depth(cam.cfg.near)
    assert (theirs < cam.cfg.max_range).mean() > 0.3  # the images see obstacles, not only the sky
    assert abs(ours - theirs).max() < 1e-9


def test_depth_peer_benchmark_quick(peers, tmp_path):
    result = peers.main(["--quick", "--json", str(tmp_path / "depth.json")])
    for row in result["rows"]:
        assert row["diffenvs"] > 0 and row["mujoco multiRay"] > 0 and row["max_abs_diff_m"] < 1e-9
    assert "| 16x12 | 4 |" in (tmp_path / "depth.md").read_text()
