"""ABPT's critic updates with the hidden layers' ReLU in place against a separate ReLU output.

Ten updates of the default twin Q critics (17 -> 192 -> 192 -> 96 -> 1 per head) on minibatches of
2,400 of 9,600 random samples, each with its gradient-norm clip, Adam step and soft target update
(as ``trainers.core.critic.fit_regression`` runs them), the two networks alternated for ``--rounds``;
prints the time per ten updates and checks that both end with the same parameters, bit for bit.

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/bench_critic_relu.py --threads 1
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from profile_critic_update import ACT, OBS, UPDATES, critic_data, critic_updates
from torch import nn

from trainers.core.networks import NetConfig, QCritic, adam


def main(argv=None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=3, help="sets of ten updates per timing")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    obs, act, target, batches = critic_data()

    def make(inplace: bool):
        torch.manual_seed(0)
        critic = QCritic(OBS, ACT, NetConfig())
        for m in critic.modules():
            if isinstance(m, nn.ReLU):
                m.inplace = inplace
        return critic, copy.deepcopy(critic).requires_grad_(False), adam(critic.parameters(), 1e-3, 1e-5)

    def loss_fn(critic, idx):
        return (critic(obs[idx], act[idx]) - target[idx]).square().mean()

    def run(variant, n: int) -> None:
        critic_updates(*variant, loss_fn, batches, n, read_loss=True)

    variants = {"separate ReLU": make(False), "ReLU in place": make(True)}
    for v in variants.values():
        run(v, 2 * UPDATES)  # warm-up
    times: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(args.rounds):
        for name, v in variants.items():
            t = time.perf_counter()
            run(v, UPDATES * args.reps)
            times[name].append((time.perf_counter() - t) / args.reps * 1e3)
            print(f"round {r + 1} {name:14s} {times[name][-1]:6.1f} ms per {UPDATES} updates", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    (a, *_), (b, *_) = variants.values()
    same = all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    print(f"medians: separate {med['separate ReLU']:.1f} ms, in place {med['ReLU in place']:.1f} ms "
          f"({med['separate ReLU'] / med['ReLU in place']:.3f}x); the same parameters after both: {same}")
    return med


if __name__ == "__main__":
    main()
