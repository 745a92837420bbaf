"""A hand-written fused actor step against the actor module, 96 chained steps forward and backward.

The default actor (13 -> 192 -> 192 -> 96 -> mean and log-std heads of 4, ReLU; tanh-squashed
Gaussian) as one autograd node: the three hidden layers, both heads, the sampling and the
log-probability in the forward, their vector-Jacobian product written out in the backward. It is
first checked against the module in float64 (values, gradients of the input and every parameter,
and ``torch.autograd.gradcheck``), then both are timed on 100 envs over 96 steps chained through a
stand-in for the env (the next observation mixes the previous one with the action), with the
summed log-probabilities and actions as the loss, alternated for ``--rounds``. It measures whether
fusing the actor pays; the trainers do not use it.

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/bench_fused_actor.py --threads 1
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from torch import nn

from trainers.core.networks import LOG_STD_MAX, LOG_STD_MIN, Actor

LOG2, HALF_LOG_2PI = math.log(2.0), 0.5 * math.log(2 * math.pi)


class FusedActorStep(torch.autograd.Function):
    """``(action, log_prob)`` of the default MLP actor for observations ``obs`` and noise ``eps``."""

    @staticmethod
    def forward(ctx, obs, eps, scale, w1, b1, w2, b2, w3, b3, wm, bm, ws, bs):
        h1 = torch.addmm(b1, obs, w1.t()).relu_()
        h2 = torch.addmm(b2, h1, w2.t()).relu_()
        h3 = torch.addmm(b3, h2, w3.t()).relu_()
        mu = torch.addmm(bm, h3, wm.t())
        raw = torch.addmm(bs, h3, ws.t())
        log_std = raw.clamp(LOG_STD_MIN, LOG_STD_MAX) + scale
        std = log_std.exp()
        u = mu + std * eps
        a = torch.tanh(u)
        log_prob = ((-0.5 * eps * eps - log_std - HALF_LOG_2PI).sum(-1)
                    - (2.0 * (LOG2 - u - nn.functional.softplus(-2.0 * u))).sum(-1))
        ctx.save_for_backward(obs, eps, h1, h2, h3, raw, std, a, w1, w2, w3, wm, ws)
        return a, log_prob

    @staticmethod
    def backward(ctx, g_a, g_lp):
        obs, eps, h1, h2, h3, raw, std, a, w1, w2, w3, wm, ws = ctx.saved_tensors
        g_lp = g_lp.unsqueeze(-1)
        g_u = torch.addcmul(g_a - g_a * a * a, g_lp, a, value=2.0)  # tanh, and the squashing's log-Jacobian
        g_raw = (g_u * eps * std - g_lp) * ((raw >= LOG_STD_MIN) & (raw <= LOG_STD_MAX))
        g_h3 = torch.addmm(g_u @ wm, g_raw, ws).mul_(h3 > 0)
        g_h2 = (g_h3 @ w3).mul_(h2 > 0)
        g_h1 = (g_h2 @ w2).mul_(h1 > 0)
        g_obs = g_h1 @ w1 if ctx.needs_input_grad[0] else None
        return (g_obs, None, None, g_h1.t() @ obs, g_h1.sum(0), g_h2.t() @ h1, g_h2.sum(0), g_h3.t() @ h2,
                g_h3.sum(0), g_u.t() @ h3, g_u.sum(0), g_raw.t() @ h3, g_raw.sum(0))


def params(actor: Actor) -> list[torch.Tensor]:
    layers = [actor.features[0], actor.body[0], actor.body[2], actor.mean, actor.log_std]
    return [p for layer in layers for p in (layer.weight, layer.bias)]


def fused(actor: Actor, obs, eps):
    return FusedActorStep.apply(obs, eps, actor.log_std_scale, *params(actor))


def check() -> None:
    """Values and gradients against the module, float64."""
    torch.manual_seed(0)
    actor = Actor(13, 4).double()
    obs = torch.randn(100, 13, dtype=torch.float64, requires_grad=True)
    eps, g_a, g_lp = torch.randn(100, 4, dtype=torch.float64), torch.randn(100, 4, dtype=torch.float64), \
        torch.randn(100, dtype=torch.float64)
    leaves = [obs, *params(actor)]
    outs = [actor(obs, noise=eps), fused(actor, obs, eps)]
    grads = [torch.autograd.grad((a * g_a).sum() + (lp * g_lp).sum(), leaves) for a, lp in outs]
    for x, y in zip(outs[0], outs[1]):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)
    for x, y in zip(*grads):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12)
    inputs = [obs, *(p.detach().clone().requires_grad_() for p in params(actor))]
    assert torch.autograd.gradcheck(lambda o, *p: FusedActorStep.apply(o, eps, actor.log_std_scale, *p), inputs)
    print("fused step = module (float64: values 1e-12, gradients 1e-10, gradcheck passed)")


def main(argv=None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    check()
    torch.manual_seed(0)
    actor, obs0 = Actor(13, 4), torch.randn(100, 13)

    def unroll(step, steps: int = 96) -> None:
        x = obs0.clone().requires_grad_()
        total = 0
        for _ in range(steps):
            a, lp = step(x, torch.randn(100, 4))
            x = x * 0.99 + a.sum(-1, keepdim=True) * 0.01
            total = total + lp.sum() + a.sum()
        total.backward()

    variants = {"module": lambda x, e: actor(x, noise=e), "fused": lambda x, e: fused(actor, x, e)}
    for step in variants.values():
        unroll(step)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(args.rounds):
        for name, step in variants.items():
            t = time.perf_counter()
            for _ in range(3):
                unroll(step)
            times[name].append((time.perf_counter() - t) / 3 * 1e3)
            print(f"round {r + 1} {name:7s} {times[name][-1]:6.1f} ms per 96-step unroll and backward", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"medians: module {med['module']:.1f} ms, fused {med['fused']:.1f} ms "
          f"({med['module'] / med['fused']:.2f}x)")
    return med


if __name__ == "__main__":
    main()
