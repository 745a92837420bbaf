"""The depth camera beside MuJoCo's ray casting: same worlds, same rays, interleaved on one machine.

The peer a user would pick for batched depth from analytic shapes on a CPU is MuJoCo's
``mj_multiRay`` (C; all rays of one image from one point against a compiled model). For each
batch size ``N`` and image size, ``N`` random worlds are drawn as in ``bench_depth.py`` (16
vertical cylinders, 4 spheres, 4 boxes and the ground in a 20 m square) and each is written
as an MJCF model (cylinders as geoms 2e4 m tall, the ground as an infinite plane); one level
camera per env 0.5 m above its start, at a random yaw. Timed (frames/s, one ``HxW`` image of
one env is a frame):

* ``diffenvs``: :meth:`DepthCamera.render` of all ``N`` envs in one call (torch's threads);
* ``mujoco multiRay``: ``mujoco.mj_multiRay`` once per env over that env's model (the pixel
  directions given, as ours, in the world frame), a Python loop over envs, on 1 thread and with the
  envs split over a pool of 2 threads (the binding releases the GIL; ``--mujoco-threads``); the ratio
  is ours over the faster of the two.

Both read the ray length to the nearest hit within ``max_range`` (a miss reads ``max_range``);
before timing, every image is compared pixel by pixel and the largest difference and the share
of pixels that differ by more than 1 mm are reported (a pixel whose ray grazes a silhouette may
legitimately differ).

    python benchmarks/bench_depth_peers.py --json benchmarks/results/bench_depth_peers_cpu.json
    python benchmarks/bench_depth_peers.py --quick
"""

from __future__ import annotations

import argparse
import functools
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from timing import machine, rate, save

from diffenvs.sensors import DepthCamera, DepthCameraConfig
from diffenvs.worlds import WorldSamplerConfig, sample_worlds
from diffenvs.worlds.obstacles import ObstacleWorld

CAMERA_HEIGHT = 0.5  # m


def mjcf(world: ObstacleWorld, i: int) -> str:
    """Env ``i`` of ``world`` as an MJCF model of static geoms (all in the world body)."""
    geoms = []
    for (x, y), r, (z0, z1), ok in zip(world.cyl_xy[i].tolist(), world.cyl_radius[i].tolist(),
                                       world.cyl_z[i].tolist(), world.cyl_valid[i].tolist()):
        if ok:
            geoms.append(f'<geom type="cylinder" size="{r!r} {(z1 - z0) / 2!r}" pos="{x!r} {y!r} {(z0 + z1) / 2!r}"/>')
    for (x, y, z), r, ok in zip(world.sph_center[i].tolist(), world.sph_radius[i].tolist(),
                                world.sph_valid[i].tolist()):
        if ok:
            geoms.append(f'<geom type="sphere" size="{r!r}" pos="{x!r} {y!r} {z!r}"/>')
    for lo, hi, ok in zip(world.box_min[i].tolist(), world.box_max[i].tolist(), world.box_valid[i].tolist()):
        if ok:
            half = " ".join(repr((b - a) / 2) for a, b in zip(lo, hi))
            centre = " ".join(repr((b + a) / 2) for a, b in zip(lo, hi))
            geoms.append(f'<geom type="box" size="{half}" pos="{centre}"/>')
    if bool(world.ground[i]):
        geoms.append('<geom type="plane" size="0 0 1"/>')
    return f"<mujoco><worldbody>{''.join(geoms)}</worldbody></mujoco>"


class MujocoCameras:
    """One compiled MuJoCo model per env and the camera's world-frame rays, cast with ``mj_multiRay``."""

    def __init__(self, world: ObstacleWorld, pos: torch.Tensor, dirs: torch.Tensor, max_range: float,
                 threads: int = 1):
        import mujoco

        self.mj = mujoco
        self.models = [mujoco.MjModel.from_xml_string(mjcf(world, i)) for i in range(world.num_envs)]
        self.datas = [mujoco.MjData(m) for m in self.models]
        for m, d in zip(self.models, self.datas):
            mujoco.mj_kinematics(m, d)  # geom poses
        self.pos = pos.to(torch.float64).numpy().copy()
        self.vec = dirs.to(torch.float64).reshape(world.num_envs, -1).numpy().copy()
        self.nray = dirs.shape[1]
        self.dist = np.zeros((world.num_envs, self.nray))
        self.geomid = np.zeros((world.num_envs, self.nray), dtype=np.int32)
        self.max_range = max_range
        self.set_threads(threads)

    def set_threads(self, threads: int) -> None:
        if getattr(self, "pool", None) is not None:
            self.pool.shutdown()  # the previous setting's threads
        self.pool = ThreadPoolExecutor(threads) if threads > 1 else None
        self.chunks = np.array_split(np.arange(len(self.models)), threads)

    def _cast(self, envs) -> None:
        ray = self.mj.mj_multiRay
        for i in envs:
            ray(self.models[i], self.datas[i], self.pos[i], self.vec[i], None, 1, -1, self.geomid[i], self.dist[i],
                None, self.nray, self.max_range)

    def cast(self) -> None:
        if self.pool is None:
            self._cast(range(len(self.models)))
        else:
            list(self.pool.map(self._cast, self.chunks))

    def depth(self, near: float) -> np.ndarray:
        self.cast()
        d = np.where((self.dist < 0) | (self.dist > self.max_range), self.max_range, self.dist)
        return np.clip(d, near, self.max_range)


def setup(n: int, width: int, height: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    cfg = WorldSamplerConfig(cylinders=16, spheres=4, boxes=4, keep_out=1.0)
    starts = (torch.rand(n, 2, generator=gen, dtype=torch.float64) - 0.5) * 16
    world = sample_worlds(n, gen, cfg, starts=starts, dtype=torch.float64)
    pos = torch.cat([starts, torch.full((n, 1), CAMERA_HEIGHT, dtype=torch.float64)], -1)
    yaw = torch.rand(n, generator=gen, dtype=torch.float64) * 2 * torch.pi
    cam = DepthCamera(DepthCameraConfig(width=width, height=height, max_range=10.0))
    return world, pos, yaw, cam


def compare(world, pos, yaw, cam, mj: MujocoCameras) -> dict[str, float]:
    """Ours (float64) against MuJoCo's images: largest difference, m, and the share of pixels off by > 1 mm."""
    ours = cam.render(world, pos, yaw).reshape(world.num_envs, -1).numpy()
    diff = np.abs(ours - mj.depth(cam.cfg.near))
    return {"max_abs_diff_m": float(diff.max()), "share_off_1mm": float((diff > 1e-3).mean())}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--images", nargs="+", default=["16x12", "84x84"], help="WIDTHxHEIGHT")
    parser.add_argument("--min-time", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved repetitions (best kept)")
    parser.add_argument("--mujoco-threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quick", action="store_true", help="N = 1 and 4, 16x12, short timings (smoke test)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.images, args.min_time, args.rounds = [1, 4], ["16x12"], 0.05, 1
    rows = []
    for image in args.images:
        width, height = (int(v) for v in image.split("x"))
        for n in args.sizes:
            world, pos, yaw, cam = setup(n, width, height)
            _, dirs = cam.world_rays(pos, yaw)
            mj = MujocoCameras(world, pos, dirs, cam.cfg.max_range)
            agree = compare(world, pos, yaw, cam, mj)
            render = functools.partial(cam.render, world.to(dtype=torch.float32), pos.float(), yaw.float())
            names = {t: f"mujoco multiRay x{t}" for t in args.mujoco_threads}
            best = dict.fromkeys(["diffenvs", *names.values()], 0.0)
            for _ in range(args.rounds):
                best["diffenvs"] = max(best["diffenvs"], rate(render, n, args.min_time))
                for threads, name in names.items():
                    mj.set_threads(threads)
                    best[name] = max(best[name], rate(mj.cast, n, args.min_time))
            best["mujoco multiRay"] = max(best[name] for name in names.values())
            row = {"image": image, "N": n, **best, "ratio": best["diffenvs"] / best["mujoco multiRay"], **agree}
            rows.append(row)
            print(json.dumps(row), flush=True)
    mj_cols = [f"mujoco multiRay x{t}" for t in args.mujoco_threads]
    lines = ["| image | N | diffenvs frames/s | " + " | ".join(f"MuJoCo, {t} thread{'s' * (t > 1)}"
                                                          for t in args.mujoco_threads)
             + " | ours / best MuJoCo | largest difference (m) | pixels off by > 1 mm |",
             "|---" * (6 + len(mj_cols)) + "|"]
    lines += [f"| {r['image']} | {r['N']} | {r['diffenvs']:.3g} | " + " | ".join(f"{r[c]:.3g}" for c in mj_cols)
              + f" | {r['ratio']:.2f} | {r['max_abs_diff_m']:.2g} | {100 * r['share_off_1mm']:.3f} % |" for r in rows]
    text = "\n".join(lines)
    print(text)
    out = {"machine": machine(), "mujoco_threads": args.mujoco_threads, "rows": rows, "table": text}
    save(args.json, out, text, indent=2)
    return out


if __name__ == "__main__":
    main()
