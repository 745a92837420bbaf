"""Where one ABPT training iteration spends its time (seconds per phase, mean of 5).

    python benchmarks/profile_abpt_iteration.py [--env DiffQuad-Hover-v0] [--num-envs 100] [--compile] [--critic-ops]
        [--no-fused] [--no-native] [--ceiling]

``--compile`` builds the env with ``compile=True``: the rollout (simulator and actor) runs as
compiled chunks, forward and backward; the warm-up iterations compile them. ``--critic-ops``
then prints, under PyTorch's profiler, where one iteration's critic updates spend their time, by
operator (self CPU time), and the share of the matrix products. ``--no-fused`` steps the quadrotor
with its PyTorch ops instead of the fused native Euler step (the robot option ``fused=False``); ``--no-native``
keeps the robot's native step but runs the task's generic transition (the env option ``native=False``).
"""

from __future__ import annotations

import argparse

import torch
from timing import Phases, print_ceiling

from trainers import make_trainer
from trainers.core.first_order import rollout


def _bookkeeping(trainer, ro) -> None:
    trainer.buffer.add(ro.states)
    trainer.after_rollout(ro)


def main(argv=None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="DiffQuad-Hover-v0")
    parser.add_argument("--num-envs", type=int, default=100)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--ceiling", action="store_true",
                        help="also: the iteration's matrix products against their rate alone (timing.matmul_ceiling)")
    parser.add_argument("--json", default=None,
                        help="with --ceiling: write the phases' seconds, their products' seconds alone and bounds "
                             "here (benchmarks/plot_phase_bounds.py draws them)")
    parser.add_argument("--compile", action="store_true", help="the env with compile=True")
    parser.add_argument("--critic-ops", action="store_true", help="profile the critic updates by operator")
    parser.add_argument("--no-fused", action="store_true", help="the quadrotor's PyTorch ops (fused=False)")
    parser.add_argument("--no-native", action="store_true",
                        help="the task's generic transition around the robot's native step (native=False)")
    args = parser.parse_args(argv)
    env_kwargs = {"fused": False} if args.no_fused else {}
    if args.no_native:
        env_kwargs["native"] = False
    trainer = make_trainer("abpt", env_id=args.env, num_envs=args.num_envs, progress=False, tensorboard=False,
                           log_dir="/tmp/profile_abpt", compile=args.compile, env_kwargs=env_kwargs)
    for _ in range(3):  # warm-up (and a non-empty state buffer)
        trainer.train_iteration()
    timed = Phases(args.iterations)

    H = trainer.cfg.horizon

    def iteration(timed):
        timed("replay starts", trainer.replay_starts)
        ro = timed("rollout (simulator + actor, forward)", rollout, trainer.env, trainer.actor, trainer.norm, H, True,
                   trainer.flatten)
        objective = timed("objective (values at segment ends)", trainer.actor_objective, ro)["objective"]
        timed("actor backward + Adam step", trainer.step_actor, -objective.mean() / H)
        timed("critic updates", trainer.fit_q, ro)
        timed("bookkeeping", _bookkeeping, trainer, ro)
        return ro

    for _ in range(args.iterations):
        ro = iteration(timed)
    total = timed.total
    print(f"ABPT iteration on {args.env}: {H} steps x {args.num_envs} envs = {H * args.num_envs} env steps, "
          f"{total:.3f} s ({H * args.num_envs / total:.0f} env steps/s)")
    print(timed.report())
    if args.ceiling:
        print_ceiling(trainer.train_iteration, iteration, timed.times, "ABPT", args.compile, args.json)
    if args.critic_ops:
        _critic_ops(trainer, ro)
    return timed.times


def _critic_ops(trainer, ro) -> None:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        trainer.fit_q(ro)
    ops = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in ops)
    matmul = sum(e.self_cpu_time_total for e in ops if e.key in ("aten::mm", "aten::addmm", "aten::bmm"))
    print(f"\ncritic updates by operator: matrix products (mm, addmm, bmm) {100 * matmul / total:.0f} % of self "
          "CPU time")
    print(ops.table(sort_by="self_cpu_time_total", row_limit=8))


if __name__ == "__main__":
    main()
