"""Environment throughput benchmark (env-steps per second).

Measures, for each batch size N:

* ``bare fwd``: the robot's step alone (``env.robot.step``), no env.
* ``step()``: the Gymnasium numpy step (no graph), including conversions.
* ``fwd``: ``step_differentiable`` under ``torch.no_grad()`` (tensors in and out).
* ``fwd+bwd``: ``step_differentiable`` with gradients over a ``--horizon`` step unroll
  (default 96, SHAC/ABPT's horizon), followed by ``backward()`` of the summed reward,
  counted as horizon * N env-steps per unroll.
* ``rollout``: ``env.rollout(actions)`` of 16 steps in one call without gradients, and
  ``rollout fwd+bwd``: a ``--horizon`` step ``rollout`` and its backward;
* the same ``fwd`` / ``fwd+bwd`` / ``rollout`` columns with ``compile=True`` (``--compile``;
  ``rollout`` then runs compiled chunks of ``env.rollout_chunk`` steps).

Usage::

    python benchmarks/bench_env.py                    # N in 1, 100, 1024, 16384, eager, Hover
    python benchmarks/bench_env.py --env DiffPointMass-Reach-v0 --sizes 100 16384
    python benchmarks/bench_env.py --compile --sizes 100 1024
    python benchmarks/bench_env.py --quick --compile aot_eager --no-eager   # the compiled path, traced in seconds
    python benchmarks/bench_env.py --quick            # seconds, for smoke tests
    python benchmarks/bench_env.py --task racing --no-native   # without the whole-step native call
    python benchmarks/bench_env.py --profile 100      # where the time of one step goes
    python benchmarks/bench_env.py --device cuda --sizes 100 1048576 --horizon 16 [--compile --no-eager]

Results are printed as a Markdown table and, with ``--json PATH``, written as JSON
(with the machine description) so docs tables can be regenerated from them.
"""

from __future__ import annotations

import argparse
import json

import gymnasium as gym
import numpy as np
import torch
from timing import device_sync, machine, rate

import diffenvs  # noqa: F401  (registers the ids)


def _action(env) -> torch.Tensor:
    """A steady action: hover thrust for a quadrotor, zero otherwise."""
    vehicle = getattr(env.robot, "vehicle", None)
    value = vehicle.hover_action if vehicle is not None else 0.0
    return torch.full((env.num_envs, env.action_dim), value, dtype=env.dtype, device=env.device)


def make_env(env_id: str, n: int, **kwargs):
    env = gym.make_vec(env_id, num_envs=n, **kwargs)
    env.reset(seed=0)
    return env


def bench_bare(n: int, env_id: str, min_time: float, horizon: int, **env_kwargs) -> tuple[float, float]:
    env = make_env(env_id, n, **env_kwargs)
    robot = env.robot
    x0 = {k: env.state[k].clone() for k in robot.state_fields}
    a = _action(env)
    steps = 50

    def fwd():
        x = x0
        with torch.no_grad():
            for _ in range(steps):
                x = robot.step(x, a)

    acts = a.expand(horizon, *a.shape).clone().requires_grad_()

    def fwd_bwd():
        x = x0
        loss = 0.0
        for at in acts.unbind(0):
            x = robot.step(x, at)
            loss = loss + sum(v.sum() for v in x.values() if v.is_floating_point())
        loss.backward()

    sync = device_sync(env.device)
    return rate(fwd, steps * n, min_time, sync=sync), rate(fwd_bwd, horizon * n, min_time, warmup=1, sync=sync)


def _step_fns(env, steps: int, horizon: int):
    """``fwd`` (``steps`` no-grad steps) and ``fwd_bwd`` (a ``horizon`` unroll + backward) closures."""
    a = _action(env)
    acts = a.expand(horizon, *a.shape).clone().requires_grad_()

    def fwd():
        with torch.no_grad():
            for _ in range(steps):
                env.step_differentiable(a)

    def fwd_bwd():
        env.detach()
        total = 0.0
        for at in acts.unbind(0):
            total = total + env.step_differentiable(at)[1].sum()
        total.backward()

    return fwd, fwd_bwd


def _rollout_fns(env, steps: int, horizon: int):
    """``rollout`` (one ``steps``-step no-grad call) and ``rollout_bwd`` (a ``horizon`` rollout + backward)."""
    a = _action(env)
    short = a.expand(steps, *a.shape).contiguous()
    acts = a.expand(horizon, *a.shape).clone().requires_grad_()

    def rollout():
        with torch.no_grad():
            env.rollout(short)

    def rollout_bwd():
        env.detach()
        env.rollout(acts)[1].sum().backward()

    return rollout, rollout_bwd


def bench_env(n: int, env_id: str, min_time: float, horizon: int, compile: bool | str, rollout_chunk: int | None = None,
              **env_kwargs) -> dict[str, float]:
    env = make_env(env_id, n, compile=compile, **env_kwargs)
    if rollout_chunk:
        env.rollout_chunk = rollout_chunk
    a_np = _action(env).cpu().numpy().astype(np.float32)
    sync = device_sync(env.device)
    steps = 20

    def numpy_step():
        for _ in range(steps):
            env.step(a_np)

    fwd, fwd_bwd = _step_fns(env, steps, horizon)
    out = {}
    if not compile:
        out["step()"] = rate(numpy_step, steps * n, min_time, sync=sync)
    out["fwd"] = rate(fwd, steps * n, min_time, warmup=3, sync=sync)
    out["fwd+bwd"] = rate(fwd_bwd, horizon * n, min_time, warmup=2, sync=sync)
    rollout, rollout_bwd = _rollout_fns(env, 16, horizon)
    out["rollout"] = rate(rollout, 16 * n, min_time, sync=sync)
    out["rollout fwd+bwd"] = rate(rollout_bwd, horizon * n, min_time, sync=sync)
    return out


def profile(n: int, env_id: str, horizon: int, row_limit: int = 12) -> None:
    """Print torch-profiler tables of the eager and compiled step (fwd, then fwd+bwd) at N = n."""
    for compile in (False, True):
        env = make_env(env_id, n, compile=compile)
        _profile_env(env, "compiled" if compile else "eager", horizon, row_limit)


def _profile_env(env, label: str, horizon: int, row_limit: int) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    n = env.num_envs
    fwd, fwd_bwd = _step_fns(env, horizon, horizon)
    for name, fn in (("fwd", fwd), ("fwd+bwd", fwd_bwd)):
        for _ in range(3):
            fn()
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            fn()
        events = prof.key_averages()
        per_step = sum(e.self_cpu_time_total for e in events) / horizon
        aten_calls = sum(e.count for e in events if e.key.startswith("aten::")) / horizon
        print(f"\n### {label} {name}, N={n}: {per_step:.0f} us of CPU per step, "
              f"{aten_calls:.0f} aten calls per step (incl. nested)")
        print(events.table(sort_by="self_cpu_time_total", row_limit=row_limit))




def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None, help="registered env id (default DiffQuad-Hover-v0)")
    parser.add_argument("--task", default=None, help="shorthand for --env DiffQuad-<Task>-v0 (e.g. hover)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 1024, 16384])
    parser.add_argument("--horizon", type=int, default=96)
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds per timed run")
    parser.add_argument("--compile", nargs="?", const=True, default=False, metavar="BACKEND",
                        help="also measure compile=True (inductor), or compile=BACKEND, another torch.compile "
                             "backend (aot_eager: traced in seconds, for smoke tests)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu", help="torch device of the envs, e.g. cuda")
    parser.add_argument("--no-eager", action="store_true", help="with --compile: the compiled columns only")
    parser.add_argument("--rollout-chunk", type=int, default=None,
                        help="with --compile: steps per compiled rollout graph (default: the env's rollout_chunk, 8; "
                             "a smaller one compiles faster)")
    parser.add_argument("--json", default=None, help="write results here")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and times (smoke test)")
    parser.add_argument("--no-native", action="store_true",
                        help="the env with native=False: the task's generic transition (tensor operations) around "
                             "the robot's own step, instead of the whole step as one native call")
    parser.add_argument("--profile", type=int, default=None, metavar="N",
                        help="print profiler tables for batch size N instead of measuring throughput")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    env_id = args.env or (f"DiffQuad-{args.task.capitalize()}-v0" if args.task else "DiffQuad-Hover-v0")
    if args.profile:
        profile(args.profile, env_id, args.horizon)
        return {}
    if args.quick:
        args.sizes, args.min_time, args.horizon = [4], 0.02, 8

    rows = []
    for n in args.sizes:
        row = {"N": n}
        if not (args.no_eager and args.compile):
            bare_f, bare_fb = bench_bare(n, env_id, args.min_time, args.horizon, device=args.device)
            row.update({"bare fwd": bare_f, "bare fwd+bwd": bare_fb})
            row.update(bench_env(n, env_id, args.min_time, args.horizon, compile=False, device=args.device,
                                 **({"native": False} if args.no_native else {})))
        if args.compile:
            comp = bench_env(n, env_id, args.min_time, args.horizon, compile=args.compile,
                             rollout_chunk=args.rollout_chunk, device=args.device)
            row.update({f"compiled {k}": v for k, v in comp.items()})
        rows.append(row)
        print(json.dumps({k: (round(v) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)

    cols = list(rows[0])
    print(f"\nenv-steps/s, env={env_id}, horizon={args.horizon}, {machine(torch.device(args.device))}")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for row in rows:
        print("| " + " | ".join(str(row[c]) if c == "N" else f"{row[c]:.3g}" for c in cols) + " |")
    result = {"machine": machine(torch.device(args.device)), "env": env_id, "horizon": args.horizon,
              "native": not args.no_native, "compile": args.compile, "rows": rows}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return result


if __name__ == "__main__":
    main()
