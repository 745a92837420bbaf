"""Where one SHAC training iteration spends its time (seconds per phase, mean of ``--iterations``).

    python benchmarks/profile_shac_iteration.py --env DiffNav-PointMass-v0 [--preset fast] [--threads 1] [--compile]
        [--ceiling]

``--compile`` builds the env with ``compile=True`` (``torch.compile`` of the step); the
first iteration, which compiles, is reported separately. Early iterations cost more than
later ones (an untrained policy crashes often, and every restart renders a new image).
"""

from __future__ import annotations

import argparse
import time

import torch
from timing import Phases, print_ceiling

from trainers import make_trainer


def main(argv=None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="DiffNav-PointMass-v0")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--ceiling", action="store_true",
                        help="also: the iteration's matrix products against their rate alone (timing.matmul_ceiling)")
    parser.add_argument("--json", default=None,
                        help="with --ceiling: write the phases' seconds, their products' seconds alone and bounds "
                             "here (benchmarks/plot_phase_bounds.py draws them)")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    trainer = make_trainer("shac", env_id=args.env, preset=args.preset, progress=False, tensorboard=False,
                           log_dir="/tmp/profile_shac", compile=args.compile)
    t0 = time.perf_counter()
    trainer.train_iteration()
    first = time.perf_counter() - t0
    for _ in range(2):  # warm-up
        trainer.train_iteration()
    cfg, timed = trainer.cfg, Phases(args.iterations)

    def iteration(timed) -> None:
        ro = timed("rollout (simulator + actor, forward)", trainer.rollout)
        loss = timed("objective (terminal values)", trainer.actor_loss, ro)
        timed("actor backward + Adam step", trainer.step_actor, loss)
        timed("critic updates", trainer.fit_critic, ro)
        timed("bookkeeping", trainer.after_rollout, ro)

    for _ in range(args.iterations):
        iteration(timed)
    total = timed.total
    steps = cfg.horizon * cfg.num_envs
    print(f"SHAC iterations 4-{3 + args.iterations} of a fresh run on {args.env} (preset {args.preset}, "
          f"{torch.get_num_threads()} threads{', compiled step' if args.compile else ''}): {cfg.horizon} steps x "
          f"{cfg.num_envs} envs = {steps} env steps, {total:.3f} s ({steps / total:.0f} env steps/s); "
          f"first iteration {first:.1f} s")
    print(timed.report())
    if args.ceiling:
        print_ceiling(trainer.train_iteration, iteration, timed.times, "SHAC", args.compile, args.json)
    return timed.times


if __name__ == "__main__":
    main()
