"""Experiments that are not plain sweeps.

``parameter_difference`` reproduces the ABPT paper's Figure 5: two copies of a trainer
start from the same seed (same initial parameters and noise); one trains on the fully
differentiable reward, the other on the same reward with some terms detached (their
value kept, their gradient cut, mimicking non-differentiable rewards). The distance
``|θ_full - θ_detached|`` between the two actors is recorded after every iteration,
with and without the 0-step return.

The parameter distance mixes the gradient bias with Adam's per-coordinate normalisation
and with how far the two runs drift apart, so ``gradient_bias`` measures the bias itself:
one ABPT run trains on the full reward, and every few iterations the actor gradient of
each objective is computed twice at the same parameters, from the same env states with
the same action noise, once on the full reward and once with the terms detached; the
rows record the relative error ``|g_detached - g_full| / |g_full|``, the cosine between
the two, and the size of the 0-step gradient next to the N-step one.

    python -m trainers.experiments figure5 --seed 0 --out benchmarks/results/figure5/params_s0.csv
    python -m trainers.experiments gradient-bias --seed 0 --out benchmarks/results/figure5/gradient_s0.csv

(one process per seed; ``diffenvs-train figures --fig5 ... --fig5-gradient ...`` takes
the CSVs of all seeds).
"""

from __future__ import annotations

import argparse
import os

import torch
from torch.nn.utils import parameters_to_vector

from diffenvs.contract import state_clone

from . import make_trainer
from .core.logger import write_csv

OBJECTIVES = {"N-step + 0-step (ABPT)": {"zero_step": True}, "N-step only (no 0-step)": {"zero_step": False}}
# gradient_bias: objective = (1 - w) J^N + w J^0; w = 0.5 is ABPT's eq. 9, and 0.9 shows
# what a dominant 0-step term would do.
MIXES = {"N-step + 0-step (ABPT)": 0.5, "N-step only (no 0-step)": 0.0, "0.1 N-step + 0.9 0-step": 0.9}


# Quiet, unlogged trainers: the experiments record their own rows.
_QUIET = {"progress": False, "tensorboard": False, "log_dir": os.devnull, "eval_every": 0}


def _flat(module: torch.nn.Module) -> torch.Tensor:
    return parameters_to_vector(module.parameters()).detach()


def parameter_difference(env_id: str = "DiffQuad-Hover-v0", detach: tuple[str, ...] = ("position",),
                         iterations: int = 40, seed: int = 0, out: str | None = None, **settings) -> list[dict]:
    """Rows ``(objective, seed, iteration, param_difference)``; also written to ``out`` (CSV) if given."""
    rows = []
    settings = {**_QUIET, "seed": seed, **settings}
    env_kwargs = settings.pop("env_kwargs", {})
    for label, switch in OBJECTIVES.items():
        full = make_trainer("abpt", env_id=env_id, env_kwargs=env_kwargs, **switch, **settings)
        part = make_trainer("abpt", env_id=env_id, env_kwargs={**env_kwargs, "detach_reward_terms": tuple(detach)},
                            **switch, **settings)
        assert torch.equal(_flat(full.actor), _flat(part.actor))
        for it in range(1, iterations + 1):
            for trainer in (full, part):
                torch.manual_seed(seed * 100_003 + it)  # same action noise and minibatches in both copies
                trainer.train_iteration()
            diff = float(torch.linalg.vector_norm(_flat(full.actor) - _flat(part.actor)))
            rows.append({"objective": label, "seed": seed, "iteration": it, "param_difference": diff})
    _write_csv(out, rows)
    return rows


def gradient_bias(env_id: str = "DiffQuad-Hover-v0", detach: tuple[str, ...] = ("position",),
                  iterations: int = 40, probe_every: int = 2, seed: int = 0, out: str | None = None,
                  **settings) -> list[dict]:
    """Rows ``(objective, seed, iteration, relative_error, cosine, zero_step_to_n_step_norm)``, the
    last being ``|∇J^0| / |∇J^N|`` on the full reward; also written to ``out`` (CSV)."""
    settings = {**_QUIET, **settings}
    trainer = make_trainer("abpt", env_id=env_id, seed=seed, zero_step=True, **settings)
    env, theta = trainer.env, list(trainer.actor.parameters())
    unknown = sorted(set(detach) - set(env.task.reward_term_names))
    if unknown:
        raise ValueError(f"unknown reward term(s) {unknown}; the {env.task.name} task has {env.task.reward_term_names}")
    rows = []
    for it in range(1, iterations + 1):
        trainer.train_iteration()
        if it % probe_every:
            continue
        state, runtime = state_clone(env.get_state()), env.get_runtime_state()
        grads: dict[tuple[str, bool], torch.Tensor] = {}
        for detached in (False, True):
            env.set_state(state)
            env.set_runtime_state(runtime)
            env.detach_reward_terms = tuple(detach) if detached else ()
            torch.manual_seed(seed * 100_003 + it)  # the same action noise in both rollouts
            parts = trainer.actor_objective(trainer.rollout())
            for name in ("j_n", "j_0"):
                grads[name, detached] = parameters_to_vector(
                    torch.autograd.grad(parts[name].mean(), theta, retain_graph=True))
        env.detach_reward_terms = ()
        env.set_state(state)
        env.set_runtime_state(runtime)
        # How large the 0-step gradient is next to the N-step one (full reward).
        ratio = float(torch.linalg.vector_norm(grads["j_0", False])
                      / torch.linalg.vector_norm(grads["j_n", False]).clamp_min(1e-30))
        for label, w in MIXES.items():  # the objectives are linear in J^N and J^0
            full, part = ((1 - w) * grads["j_n", d] + w * grads["j_0", d] for d in (False, True))
            rel = float(torch.linalg.vector_norm(part - full) / torch.linalg.vector_norm(full).clamp_min(1e-30))
            cos = float(torch.nn.functional.cosine_similarity(part, full, dim=0))
            rows.append({"objective": label, "seed": seed, "iteration": it, "relative_error": rel, "cosine": cos,
                         "zero_step_to_n_step_norm": ratio})
    _write_csv(out, rows)
    return rows


def _write_csv(out: str | None, rows: list[dict]) -> None:
    if out and rows:
        write_csv(out, list(rows[0]), rows)


def main(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description="trainers experiments")
    sub = parser.add_subparsers(dest="cmd", required=True)
    commands = {"figure5": (parameter_difference, "parameter difference, full vs partly detached rewards"),
                "gradient-bias": (gradient_bias, "actor-gradient error from detached reward terms, per objective")}
    for name, (_, help_text) in commands.items():
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--env", default="DiffQuad-Hover-v0")
        p.add_argument("--detach", nargs="+", default=["position"])
        p.add_argument("--iterations", type=int, default=40)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--num-envs", type=int, default=100)
        p.add_argument("--out", required=True)
        p.add_argument("--threads", type=int, default=None,
                       help="torch threads (default: torch's; use 1 when other jobs share the cores)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    fn = commands[args.cmd][0]
    rows = fn(args.env, tuple(args.detach), args.iterations, seed=args.seed, out=args.out, num_envs=args.num_envs)
    print(f"{len(rows)} rows -> {args.out}")
    return rows


if __name__ == "__main__":
    main()
