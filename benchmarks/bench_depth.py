"""Depth-camera throughput benchmark (depth frames per second).

For each batch size ``N`` and image size, renders ``N`` depth images of a random world
per env (16 vertical cylinders, 4 spheres, 4 boxes and the ground, in a 20 m square,
camera 0.5 m above the ground) and measures:

* ``fwd``: :meth:`DepthCamera.render` with the default ``differentiable=False``;
* ``fwd+bwd``: ``differentiable=True`` with gradient w.r.t. the camera position and
  yaw, followed by ``backward()`` of the summed depth.

Frames/s counts one ``HxW`` image of one env as a frame. Combinations whose estimated
peak memory exceeds ``--mem-gb`` are skipped.

Usage::

    python benchmarks/bench_depth.py                  # N in 1, 64, 1024, 16384; 16x12 and 84x84
    python benchmarks/bench_depth.py --device cuda
    python benchmarks/bench_depth.py --quick          # seconds, for smoke tests
"""

from __future__ import annotations

import argparse
import json
import os

import torch
from timing import machine, rate

from diffenvs.sensors import DepthCamera, DepthCameraConfig
from diffenvs.worlds import WorldSamplerConfig, sample_worlds


def bench(n: int, width: int, height: int, device: torch.device, dtype: torch.dtype, min_time: float,
          backward: bool) -> dict[str, float]:
    gen = torch.Generator(device=device).manual_seed(0)
    cfg = WorldSamplerConfig(cylinders=16, spheres=4, boxes=4, keep_out=1.0)
    starts = torch.zeros(n, 2, device=device, dtype=dtype)
    world = sample_worlds(n, gen, cfg, starts=starts, dtype=dtype, device=device)
    pos = torch.cat([starts, torch.full((n, 1), 0.5, device=device, dtype=dtype)], -1)
    yaw = torch.rand(n, generator=gen, device=device, dtype=dtype) * 6.28
    cam = DepthCamera(DepthCameraConfig(width=width, height=height, max_range=10.0))
    dcam = DepthCamera(DepthCameraConfig(width=width, height=height, max_range=10.0, differentiable=True))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def fwd():
        cam.render(world, pos, yaw)

    def fwd_bwd():
        p, y = pos.clone().requires_grad_(True), yaw.clone().requires_grad_(True)
        dcam.render(world, p, y).sum().backward()

    row = {"fwd": rate(fwd, n, min_time, warmup=1, sync=sync)}
    row["fwd+bwd"] = rate(fwd_bwd, n, min_time, warmup=1, sync=sync) if backward else float("nan")
    return row


def estimated_gb(n: int, rays: int, backward: bool, chunk_elements: int = 1 << 22) -> float:
    """Rough peak memory: the chunked nearest-hit pass plus ~60 (N, rays) temporaries when differentiable."""
    per_ray = 60 if backward else 12
    return (n * rays * per_ray * 4 + 20 * chunk_elements * 4) / 1e9


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 64, 1024, 16384])
    parser.add_argument("--images", nargs="+", default=["16x12", "84x84"], help="WxH image sizes")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per timed run")
    parser.add_argument("--mem-gb", type=float, default=None,
                        help="skip combos estimated above this (default: 60%% of RAM / GPU memory)")
    parser.add_argument("--max-rays", type=float, default=None,
                        help="skip combos with more than this many rays in total (N * W * H)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--json", default=None, help="write results here")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and times (smoke test)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.sizes, args.images, args.min_time = [1, 4], ["16x12", "20x20"], 0.01
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    if args.mem_gb is None:
        if device.type == "cuda":
            total = torch.cuda.get_device_properties(device).total_memory
        else:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        args.mem_gb = 0.6 * total / 1e9

    rows = []
    for image in args.images:
        width, height = (int(v) for v in image.lower().split("x"))
        for n in args.sizes:
            rays = n * width * height
            if estimated_gb(n, width * height, False) > args.mem_gb or (args.max_rays and rays > args.max_rays):
                print(f"skip {image} N={n}", flush=True)
                continue
            backward = estimated_gb(n, width * height, True) <= args.mem_gb
            row = {"image": image, "N": n, **bench(n, width, height, device, dtype, args.min_time, backward)}
            rows.append(row)
            print(json.dumps({k: (round(v) if isinstance(v, float) and v == v else v) for k, v in row.items()}),
                  flush=True)

    info = machine(device)
    print(f"\ndepth frames/s ({args.dtype}), {info}")
    print("| image | N | fwd | fwd+bwd |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['image']} | {row['N']} | {row['fwd']:.3g} | {row['fwd+bwd']:.3g} |")
    result = {"machine": info, "dtype": args.dtype, "rows": rows}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return result


if __name__ == "__main__":
    main()
