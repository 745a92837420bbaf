"""Speed of the articulated-body engine on ANYmal C (the issue's measurement).

For each batch size ``N``: envs standing on flat ground under PD around the standing pose,
with random joint targets; a control step is ``--substeps`` semi-implicit Euler steps of
``--dt`` (PD, joint damping, soft foot contact, implicit damping and friction):

* ``fwd ms/step``: one control step without gradient, milliseconds;
* ``grad s``: one rollout of ``--horizon`` control steps with gradient (loss: the mean
  forward base velocity at the end) and ``backward()`` to the per-step joint targets.

Combinations whose estimated memory for the backward pass exceeds ``--mem-gb`` are
skipped (NaN). ``--compile`` runs the substep through ``torch.compile`` (one graph per batch
size; the compile time of the forward and of the first gradient is reported apart).

    python benchmarks/bench_quadruped.py --out benchmarks/results/bench_quadruped_cpu
    python benchmarks/bench_quadruped.py --sizes 64 --horizon 32      # the issue's figure
    python benchmarks/bench_quadruped.py --sizes 64 --compile --out benchmarks/results/bench_quadruped_cpu_compiled
    python benchmarks/bench_quadruped.py --quick                      # seconds, for smoke tests
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import torch
from timing import device_sync, machine

from diffenvs.articulated import ContactParams, actuator_forces, euler_step, load_mjcf
from diffenvs.robots.quadruped import ANYMAL_C_XML

#: A rough estimate (not measured) of the memory kept per env and substep for the backward pass, bytes.
_BYTES_PER_ENV_SUBSTEP = 60e3


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 64, 256, 4096])
    parser.add_argument("--horizon", type=int, default=32)
    parser.add_argument("--substeps", type=int, default=10)
    parser.add_argument("--dt", type=float, default=0.002)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mem-gb", type=float, default=8.0)
    parser.add_argument("--quick", action="store_true", help="N = 1 and 8, horizon 2")
    parser.add_argument("--compile", action="store_true", help="torch.compile the substep")
    parser.add_argument("--out", default=None, help="write OUT.json (rows and machine) and OUT.md (the table)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.horizon = [1, 8], 2
    dtype, device = getattr(torch, args.dtype), torch.device(args.device)
    sync = device_sync(device)
    model = load_mjcf(ANYMAL_C_XML)
    mt = model.tensors(dtype, device)
    contact = ContactParams()
    stand = torch.tensor(model.keyframes["standing"], dtype=dtype, device=device)
    rows = []
    for n in args.sizes:
        gen = torch.Generator(device="cpu").manual_seed(n)
        noise = (0.05 * torch.randn(args.horizon, n, model.nh, generator=gen)).to(dtype=dtype, device=device)

        def substep(qp, qv, target, anchor):
            qp, qv, acc = euler_step(mt, qp, qv, args.dt, actuator_forces(mt, qp, qv, target), contact, anchor)
            return qp, qv, acc.anchor

        step_fn = torch.compile(substep, dynamic=False) if args.compile else substep

        def control_step(qp, qv, target, anchor, step_fn=step_fn):
            for _ in range(args.substeps):
                qp, qv, anchor = step_fn(qp, qv, target, anchor)
            return qp, qv, anchor

        def start(n=n):
            qp, qv = stand.expand(n, -1).clone(), torch.zeros(n, model.nv, dtype=dtype, device=device)
            with torch.no_grad():  # the feet's friction anchors where they stand
                return (qp, qv, *substep(qp, qv, stand[7:].expand(n, -1), None)[2:])

        compile_s = {}
        with torch.no_grad():
            qp, qv, anchor = start()
            t0 = time.perf_counter()
            qp, qv, anchor = control_step(qp, qv, stand[7:] + noise[0], anchor)  # warm-up (compiles)
            sync()
            compile_s["fwd"] = time.perf_counter() - t0
            steps, t0 = 0, time.perf_counter()
            while steps < 3 or time.perf_counter() - t0 < 1.0:
                qp, qv, anchor = control_step(qp, qv, stand[7:] + noise[steps % args.horizon], anchor)
                steps += 1
            sync()
            fwd_ms = 1e3 * (time.perf_counter() - t0) / steps
        grad_s = math.nan
        if n * args.horizon * args.substeps * _BYTES_PER_ENV_SUBSTEP <= args.mem_gb * 1e9:
            offsets = noise.clone().requires_grad_(True)
            times = []
            for _ in range(3 if args.compile else 2):
                sync()
                t0 = time.perf_counter()
                qp, qv, anchor = start()
                for k in range(args.horizon):
                    qp, qv, anchor = control_step(qp, qv, stand[7:] + offsets[k], anchor)
                qv[:, 0].mean().backward()
                sync()
                times.append(time.perf_counter() - t0)
                assert torch.isfinite(offsets.grad).all()
                offsets.grad = None
            grad_s = min(times[1:] if args.compile else times)
            compile_s["grad"] = times[0]
        rows.append({"N": n, "fwd ms/step": round(fwd_ms, 2), "grad s": round(grad_s, 3),
                     "env steps/s fwd": round(1e3 * n / fwd_ms),
                     **({"first fwd s": round(compile_s["fwd"], 1),
                         "first grad s": round(compile_s.get("grad", math.nan), 1)} if args.compile else {})})
        print(json.dumps(rows[-1]), flush=True)
    info = {**machine(device), "dtype": args.dtype, "horizon": args.horizon, "substeps": args.substeps,
            "dt": args.dt, "compile": args.compile}
    compiled = ""
    if args.compile:
        firsts = ", ".join(f"N={r['N']}: {r['first fwd s']} s and {r['first grad s']} s" for r in rows)
        compiled = f"torch.compile of the substep (the first forward and first gradient, which compile: {firsts}), "
    lines = [f"ANYmal C, {args.substeps} x {args.dt * 1e3:g} ms substeps per control step, {args.dtype}, {compiled}"
             f"{info['cpu']} ({info['cores']} cores, {info['torch_threads']} torch threads), torch {info['torch']}",
             "", f"| N | fwd ms per control step | env steps/s fwd | {args.horizon}-step rollout + backward, s |",
             "|---|---|---|---|"]
    lines += [f"| {r['N']} | {r['fwd ms/step']:.2f} | {r['env steps/s fwd']:.3g} | {r['grad s']:.2f} |" for r in rows]
    print("\n" + "\n".join(lines))
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out + ".json", "w") as fh:
            json.dump({"machine": info, "rows": rows}, fh, indent=1)
        with open(args.out + ".md", "w") as fh:
            fh.write("\n".join(lines) + "\n")
    return rows


if __name__ == "__main__":
    main()
