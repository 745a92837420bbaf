"""The first stage of ray casting: the native calls against the tensor ops, for a tilted and a level camera.

For each image size and batch size ``N``: random worlds as in ``bench_depth.py`` (16 vertical
cylinders, 4 spheres, 4 boxes and the ground in a 20 m square), one camera per env 0.5 m up at a
random yaw. Frames per second (one image of one env) of each ray's nearest hit, for two cameras:

* ``tilted``: pitched 0.1 rad down (so the level camera's column path does not apply, as for the
  quadruped's camera), with the obstacle hit (as with gradients): ``tensors`` is ``_nearest_hits``,
  the batched tensor operations (CUDA, or no C compiler); ``native`` is ``_native_nearest``,
  ``nearest_hits.c`` over the rays;
* ``level``: the level camera of the navigation envs, distances only (as their ``render``):
  ``tensors`` is ``_level_hits``, the column casting in tensor operations over chunks of envs as
  ``DepthCamera.cast`` makes them; ``native`` is
  ``_native_level``, ``level_hits`` of ``nearest_hits.c`` over the envs' columns.

The native calls are split over torch's threads (the default on CPU) and checked to find the same
obstacle for every ray before timing (level: all but at most 1e-5 of the rays, those tangent to a solid
or hit at the range limit, where float rounding decides; their count is in the JSON rows).

    python benchmarks/bench_ray_cast_native.py --json benchmarks/results/bench_ray_cast_native_cpu.json
    python benchmarks/bench_ray_cast_native.py --quick
"""

from __future__ import annotations

import argparse

import torch
from timing import machine, rate, save

from diffenvs.sensors import DepthCamera, DepthCameraConfig, rotation_from_euler
from diffenvs.sensors import depth_camera as dc
from diffenvs.worlds import WorldSamplerConfig, sample_worlds


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--images", nargs="+", default=["16x12", "84x84"], help="WxH")
    parser.add_argument("--min-time", type=float, default=0.5)
    parser.add_argument("--quick", action="store_true", help="N = 1 and 4, 16x12, short runs")
    parser.add_argument("--json", default=None, help="write the rows here (and the table beside it as .md)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.images, args.min_time = [1, 4], ["16x12"], 0.05
    rows = []
    for image in args.images:
        width, height = (int(v) for v in image.split("x"))
        cam = DepthCamera(DepthCameraConfig(width=width, height=height, max_range=10.0))
        for n in args.sizes:
            gen = torch.Generator().manual_seed(0)
            world = sample_worlds(n, gen, WorldSamplerConfig(region=(-10.0, 10.0, -10.0, 10.0), cylinders=16,
                                                             spheres=4, boxes=4))
            pos = torch.zeros(n, 3)
            pos[:, 2] = 0.5
            yaw = torch.rand(n, generator=gen) * 6.28
            rot = rotation_from_euler(yaw, torch.full((n,), 0.1))
            o, d = cam.world_rays(pos, rot)
            o = o.unsqueeze(1)
            with torch.no_grad():
                fast = dc._native_nearest(world, o, d, 10.0)
                if fast is None:
                    raise SystemExit("the native kernel is not available (no C compiler, or DIFFENVS_NATIVE=0)")
                ref = dc._nearest_hits(world, o, d, 10.0)
                assert torch.equal(fast[1], ref[1]) and torch.equal(fast[2], ref[2]), "different obstacles hit"
                rays = (world, o, d, 10.0)
                tensors = rate(lambda rays=rays: dc._nearest_hits(*rays), n, args.min_time)
                native = rate(lambda rays=rays: dc._native_nearest(*rays), n, args.min_time)
                rows.append({"camera": "tilted", "image": image, "N": n, "tensors": tensors, "native": native,
                             "ratio": native / tensors})
                # chunked over envs as DepthCamera.cast does
                level = (world, o, cam.level_rays(o.dtype, o.device).rotated(yaw), 10.0,
                         max(1, cam.cfg.chunk_elements // (height * width * (sum(world.counts) + 1))), False)
                ref = dc._level_cast(*level[:5], True, use_native=False)
                fast = dc._native_level(*level[:4], True)
                # Float rounding decides a ray tangent to a solid or a hit at the range limit: those few may differ.
                same = (fast[1] == ref[1]) & (fast[2] == ref[2])
                differ = int((~same).sum())
                assert differ <= 1e-5 * same.numel(), f"{differ} of {same.numel()} rays hit different obstacles"
                # (a grazing hit's distance, where -b - s cancels, may differ by tens of µm in float32)
                torch.testing.assert_close(fast[0][same], ref[0][same], rtol=1e-4, atol=1e-4)
                tensors = rate(lambda level=level: dc._level_cast(*level, use_native=False), n, args.min_time)
                native = rate(lambda level=level: dc._native_level(*level[:4], False), n, args.min_time)
            rows.append({"camera": "level", "image": image, "N": n, "tensors": tensors, "native": native,
                         "ratio": native / tensors, "rays_differing": differ})
    head = ["| camera | image | N | tensors, frames/s | native, frames/s | native / tensors |",
            "|---|---|---|---|---|---|"]
    table = "\n".join(head + [f"| {r['camera']} | {r['image']} | {r['N']} | {r['tensors']:.3g} | {r['native']:.3g} "
                              f"| {r['ratio']:.2f} |" for r in rows])
    info = machine()
    print(f"ray casting, first stage (float32), {info}\n{table}")
    result = {"machine": info, "rows": rows}
    save(args.json, result, table)
    return result


if __name__ == "__main__":
    main()
