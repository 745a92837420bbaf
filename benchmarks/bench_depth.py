"""Depth-camera and navigation-env throughput benchmark.

For each batch size ``N`` and image size, two measurements:

Depth frames per second: renders ``N`` depth images of a random world per env (16
vertical cylinders, 4 spheres, 4 boxes and the ground, in a 20 m square, a level camera
0.5 m above the ground):

* ``fwd``: :meth:`DepthCamera.render` with the default ``differentiable=False``;
* ``fwd+bwd``: ``differentiable=True`` with gradient w.r.t. the camera position and
  yaw, followed by ``backward()`` of the summed depth.

Env steps per second of ``DiffNav-PointMass-v0`` with that image size (its default
worlds; a steady action):

* ``env fwd``: ``step_differentiable`` under ``torch.no_grad()`` (the step renders every
  env's image; restarting envs render theirs too);
* ``env fwd+bwd``: an unroll of ``--horizon`` steps with gradients (the image itself is
  not differentiable, as by default), then ``backward()`` of the summed reward.

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
from timing import device_sync, machine, rate

from diffenvs.sensors import DepthCamera, DepthCameraConfig
from diffenvs.vector_env import DiffVectorEnv
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
    sync = device_sync(device)

    def fwd():
        cam.render(world, pos, yaw)

    def fwd_bwd():
        p, y = pos.clone().requires_grad_(True), yaw.clone().requires_grad_(True)
        dcam.render(world, p, y).sum().backward()

    row = {"fwd": rate(fwd, n, min_time, warmup=1, sync=sync)}
    row["fwd+bwd"] = rate(fwd_bwd, n, min_time, warmup=1, sync=sync) if backward else float("nan")
    return row


def bench_env(n: int, width: int, height: int, device: torch.device, dtype: torch.dtype, min_time: float,
              horizon: int, backward: bool = True) -> dict[str, float]:
    """Env steps/s of the navigation env with ``width x height`` images (``backward=False``:
    the unroll is not timed)."""
    env = DiffVectorEnv(n, "unicycle", "nav", {"image_width": width, "image_height": height}, device=device,
                        dtype=dtype)
    env.reset(seed=0)
    action = torch.full((n, 2), 0.3, dtype=dtype, device=device)
    sync = device_sync(device)

    def fwd():
        with torch.no_grad():
            env.step_differentiable(action)

    def fwd_bwd():
        a = action.clone().requires_grad_(True)
        total = sum(env.step_differentiable(a)[1].sum() for _ in range(horizon))
        total.backward()
        env.detach()

    return {"env fwd": rate(fwd, n, min_time, warmup=1, sync=sync),
            "env fwd+bwd": rate(fwd_bwd, n * horizon, min_time, warmup=1, sync=sync) if backward else float("nan")}


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
    parser.add_argument("--horizon", type=int, default=32, help="unroll length of the env fwd+bwd measurement")
    parser.add_argument("--no-env", action="store_true", help="depth frames only")
    parser.add_argument("--env-max-rays", type=float, default=2e6,
                        help="time the env's fwd+bwd unroll only up to this many rays per step (N * W * H); "
                             "larger ones take minutes per call")
    parser.add_argument("--json", default=None, help="write results here")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and times (smoke test)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.sizes, args.images, args.min_time, args.horizon = [1, 4], ["16x12", "20x20"], 0.01, 2
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
            if not args.no_env:
                row.update(bench_env(n, width, height, device, dtype, args.min_time, args.horizon,
                                     backward=rays <= args.env_max_rays))
            rows.append(row)
            print(json.dumps({k: (round(v) if isinstance(v, float) and v == v else v) for k, v in row.items()}),
                  flush=True)

    info = machine(device)
    print(f"\ndepth frames/s and navigation env steps/s ({args.dtype}), {info}")
    print("| image | N | frames/s fwd | frames/s fwd+bwd | env steps/s fwd | env steps/s fwd+bwd |")
    print("|---|---|---|---|---|---|")
    nan = float("nan")
    for row in rows:
        print(f"| {row['image']} | {row['N']} | {row['fwd']:.3g} | {row['fwd+bwd']:.3g} | "
              f"{row.get('env fwd', nan):.3g} | {row.get('env fwd+bwd', nan):.3g} |")
    result = {"machine": info, "dtype": args.dtype, "rows": rows}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return result


if __name__ == "__main__":
    main()
