"""One critic update of ABPT's twin Q-networks, two ways: two separate MLPs (what
``trainers.core.networks.QCritic`` builds) against the same weights stacked into one batched
network (``torch.baddbmm`` per layer), and the two networks each on its own thread (one
intra-op thread each, a thread pool of two; the update waits for both, as a gradient-norm clip over
both networks would). Shapes as in an ABPT Hover iteration: 2400 rows (a quarter
of 100 envs x 96 steps), 17 inputs, layers 192 / 192 / 96 / 1; forward, MSE loss, backward, Adam.
Prints milliseconds per update, the forms alternately, twice.

    OMP_NUM_THREADS=1 python benchmarks/bench_twin_critic.py [--threads 1] [--rows 2400]
    python benchmarks/bench_twin_critic.py --threads 2
"""

from __future__ import annotations

import argparse
import copy
import time
from concurrent.futures import ThreadPoolExecutor

import torch


def main(argv=None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", type=int, default=2400)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    sizes = (17, 192, 192, 96, 1)

    def mlp():
        layers = []
        for i in range(len(sizes) - 1):
            layers += [torch.nn.Linear(sizes[i], sizes[i + 1]), torch.nn.ReLU()]
        return torch.nn.Sequential(*layers[:-1])

    twins = torch.nn.ModuleList([mlp(), mlp()])
    x, y = torch.randn(args.rows, sizes[0]), torch.randn(args.rows)
    opt = torch.optim.Adam(twins.parameters(), lr=1e-3, foreach=True)
    linears = [[m for m in q if isinstance(m, torch.nn.Linear)] for q in twins]
    weights = [torch.nn.Parameter(torch.stack([a.weight.T.detach(), b.weight.T.detach()])) for a, b in zip(*linears)]
    biases = [torch.nn.Parameter(torch.stack([a.bias.detach(), b.bias.detach()]).unsqueeze(1))
              for a, b in zip(*linears)]
    opt_stacked = torch.optim.Adam(weights + biases, lr=1e-3, foreach=True)

    def separate():
        out = torch.stack([q(x).squeeze(-1) for q in twins])
        loss = (out - y).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def stacked():
        h = x.expand(2, *x.shape)
        for i, (w, b) in enumerate(zip(weights, biases)):
            h = torch.baddbmm(b, h, w)
            if i < len(weights) - 1:
                h = torch.relu(h)
        loss = (h.squeeze(-1) - y).square().mean()
        opt_stacked.zero_grad(set_to_none=True)
        loss.backward()
        opt_stacked.step()

    twins_apart = copy.deepcopy(twins)
    opts_apart = [torch.optim.Adam(q.parameters(), lr=1e-3, foreach=True) for q in twins_apart]
    pool = ThreadPoolExecutor(2, initializer=torch.set_num_threads, initargs=(1,))

    def one_head(h):
        loss = (twins_apart[h](x).squeeze(-1) - y).square().mean() / 2  # its half of the twin loss
        opts_apart[h].zero_grad(set_to_none=True)
        loss.backward()
        opts_apart[h].step()

    def threaded():
        list(pool.map(one_head, (0, 1)))

    forms = (("two networks", separate), ("one batched network", stacked),
             ("two networks on two threads", threaded))
    out: dict[str, list[float]] = {name: [] for name, _ in forms}
    for _ in range(2):
        for name, fn in forms:
            for _ in range(3):
                fn()
            t0 = time.perf_counter()
            for _ in range(args.repeats):
                fn()
            out[name].append((time.perf_counter() - t0) / args.repeats * 1e3)
    for name, ms in out.items():
        print(f"{name}: {' / '.join(f'{v:.1f}' for v in ms)} ms per update")
    pool.shutdown()
    return out


if __name__ == "__main__":
    main()
