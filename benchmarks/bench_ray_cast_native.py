"""The first stage of ray casting for a tilted (3-D) camera: the native call against the tensor ops.

For each image size and batch size ``N``: random worlds as in ``bench_depth.py`` (16 vertical
cylinders, 4 spheres, 4 boxes and the ground in a 20 m square), one camera per env 0.5 m up at a
random yaw, pitched 0.1 rad down (so the level camera's column path does not apply, as for the
quadruped's camera). Frames per second (one image of one env) of each ray's nearest hit:

* ``tensors``: ``_nearest_hits``, the batched tensor operations (CUDA, or no C compiler);
* ``native``: ``_native_nearest``, ``nearest_hits.c`` over the rays, split over torch's threads
  (the default on CPU), checked to find the same obstacle for every ray before timing.

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
            rot = rotation_from_euler(torch.rand(n, generator=gen) * 6.28, torch.full((n,), 0.1))
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
            rows.append({"image": image, "N": n, "tensors": tensors, "native": native, "ratio": native / tensors})
    head = ["| image | N | tensors, frames/s | native, frames/s | native / tensors |", "|---|---|---|---|---|"]
    table = "\n".join(head + [f"| {r['image']} | {r['N']} | {r['tensors']:.3g} | {r['native']:.3g} | {r['ratio']:.2f} |"
                              for r in rows])
    info = machine()
    print(f"ray casting, first stage, tilted camera (float32), {info}\n{table}")
    result = {"machine": info, "rows": rows}
    save(args.json, result, table)
    return result


if __name__ == "__main__":
    main()
