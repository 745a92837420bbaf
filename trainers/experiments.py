"""Experiments that are not plain sweeps.

``parameter_difference`` reproduces the ABPT paper's Figure 5: two copies of a trainer
start from the same seed (same initial parameters and noise); one trains on the fully
differentiable reward, the other on the same reward with some terms detached (their
value kept, their gradient cut, mimicking non-differentiable rewards). The distance
``|θ_full - θ_detached|`` between the two actors is recorded after every iteration,
with and without the 0-step return.

    python -m trainers.experiments figure5 --out benchmarks/results/figure5.csv
"""

from __future__ import annotations

import argparse
import csv
import os

import torch

from . import make_trainer

OBJECTIVES = {"N-step + 0-step (ABPT)": {"zero_step": True}, "N-step only (no 0-step)": {"zero_step": False}}


def _flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def parameter_difference(env_id: str = "DiffQuad-Hover-v0", detach: tuple[str, ...] = ("position",),
                         iterations: int = 40, seed: int = 0, out: str | None = None, **settings) -> list[dict]:
    """Rows ``(objective, iteration, param_difference)``; also written to ``out`` (CSV) if given."""
    rows = []
    base = dict(progress=False, tensorboard=False, log_dir=os.devnull, eval_every=0, seed=seed)
    base.update(settings)
    for label, switch in OBJECTIVES.items():
        env_kwargs = dict(base.pop("env_kwargs", {}))
        full = make_trainer("abpt", env_id=env_id, env_kwargs=env_kwargs, **switch, **base)
        part = make_trainer("abpt", env_id=env_id, env_kwargs={**env_kwargs, "detach_reward_terms": tuple(detach)},
                            **switch, **base)
        base["env_kwargs"] = env_kwargs
        assert torch.equal(_flat(full.actor), _flat(part.actor))
        for it in range(1, iterations + 1):
            for trainer in (full, part):
                torch.manual_seed(seed * 100_003 + it)  # same action noise and minibatches in both copies
                trainer.train_iteration()
            diff = float(torch.linalg.vector_norm(_flat(full.actor) - _flat(part.actor)))
            rows.append({"objective": label, "iteration": it, "param_difference": diff})
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["objective", "iteration", "param_difference"])
            writer.writeheader()
            writer.writerows(rows)
    return rows


def main(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description="trainers experiments")
    sub = parser.add_subparsers(dest="cmd", required=True)
    f5 = sub.add_parser("figure5", help="parameter difference, full vs partly detached rewards")
    f5.add_argument("--env", default="DiffQuad-Hover-v0")
    f5.add_argument("--detach", nargs="+", default=["position"])
    f5.add_argument("--iterations", type=int, default=40)
    f5.add_argument("--seed", type=int, default=0)
    f5.add_argument("--num-envs", type=int, default=100)
    f5.add_argument("--out", required=True)
    f5.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's; use 1 when other jobs share the cores)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = parameter_difference(args.env, tuple(args.detach), args.iterations, args.seed, args.out,
                                num_envs=args.num_envs)
    print(f"{len(rows)} rows -> {args.out}")
    return rows


if __name__ == "__main__":
    main()
