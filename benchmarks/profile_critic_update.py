"""How close ABPT's critic updates run to the CPU's matrix-product ceiling, eager and compiled.

One ABPT iteration on Hover fits the twin Q critics (the default network: 17 -> 192 -> 192 -> 96 -> 1
per head) with ``critic_updates`` = 10 Adam steps on minibatches of 2,400 of its 9,600 samples, each
followed by a gradient-norm clip and the soft target update (:func:`trainers.core.critic.fit_regression`).
This script times those 10 updates on random data in three forms, alternated for ``--rounds``:

* ``eager``: as the trainer runs them;
* ``compiled module``: the critic's forward through ``torch.compile`` (its backward compiled by AOTAutograd);
* ``compiled loss``: the minibatch's loss (indexing, forward, squared error) compiled as one function;

and reports GFLOP/s (forward and backward, 3x the forward's multiply-adds x 2) beside the rate of the
largest matrix product in them alone (2400 x 192 @ 192 x 192), the ceiling at this shape.

    python benchmarks/profile_critic_update.py --rounds 3 > benchmarks/results/profile_critic_update.txt
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

from trainers.core.networks import NetConfig, QCritic, adam, soft_update

OBS, ACT, SAMPLES, MINIBATCHES, UPDATES = 13, 4, 9600, 4, 10


def critic_data():
    """Seeded random ``(obs, actions, targets, minibatch indices)`` of one Hover iteration's size."""
    torch.manual_seed(0)
    obs, act, target = torch.randn(SAMPLES, OBS), torch.randn(SAMPLES, ACT), torch.randn(SAMPLES)
    return obs, act, target, torch.randperm(SAMPLES).chunk(MINIBATCHES)


def critic_updates(critic, target_net, opt, loss_fn, batches, n: int, read_loss: bool = False) -> None:
    """``n`` critic updates as ``fit_regression`` runs them: minibatch loss, backward, gradient-norm
    clip, Adam step, soft target update (``read_loss``: and the loss read back, as it logs it)."""
    for i in range(n):
        idx = batches[i % len(batches)]
        loss = loss_fn(critic, idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(critic.parameters(), 1.0)
        opt.step()
        soft_update(target_net, critic, 0.005)
        if read_loss:
            float(loss.detach())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    obs, act, target, batches = critic_data()
    net = NetConfig()
    sizes = [OBS + ACT, net.feature_dim, *net.hidden, 1]
    macs = 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))  # twin heads
    flop = 2 * macs * 3 * len(batches[0]) * UPDATES

    def make():
        torch.manual_seed(0)
        critic = QCritic(OBS, ACT, net)
        return critic, copy.deepcopy(critic).requires_grad_(False), adam(critic.parameters(), 1e-3)

    def run(variant, reps):
        critic_updates(*variant, batches, UPDATES * reps)

    def eager_loss(critic, idx):
        return (critic(obs[idx], act[idx]) - target[idx]).square().mean()

    variants = {"eager": (*make(), eager_loss)}
    module = make()
    compiled_critic = torch.compile(module[0])
    variants["compiled module"] = (*module, lambda c, idx: (compiled_critic(obs[idx], act[idx]) - target[idx])
                                   .square().mean())
    variants["compiled loss"] = (*make(), torch.compile(eager_loss))
    t0 = time.perf_counter()
    for variant in variants.values():
        run(variant, 1)  # warm-up (and compilation)
    print(f"threads {torch.get_num_threads()}; warm-up and compilation {time.perf_counter() - t0:.1f} s")
    a, b = torch.randn(2400, 192), torch.randn(192, 192)
    for rnd in range(args.rounds):
        for name, variant in variants.items():
            t0 = time.perf_counter()
            run(variant, 3)
            dt = (time.perf_counter() - t0) / 3
            print(f"round {rnd + 1} {name:16s} {dt * 1e3:7.1f} ms per {UPDATES} updates"
                  f"  {flop / dt / 1e9:6.1f} GFLOP/s")
        t0 = time.perf_counter()
        for _ in range(300):
            a @ b
        dt = (time.perf_counter() - t0) / 300
        print(f"round {rnd + 1} matmul 2400x192 @ 192x192 alone {2 * 2400 * 192 * 192 / dt / 1e9:6.1f} GFLOP/s")


if __name__ == "__main__":
    main()
