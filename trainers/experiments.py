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

``critic_gradient`` checks what the 0-step return's gradient rests on: the critic's
action gradient ``∂Q/∂a`` at ``(s_0, a_0)``. Over one ABPT run, every few iterations, some
of the training envs' states are cloned into a probe env, the first action is moved by
``±ε`` along each action dimension and the policy continues (with the same action noise
for every perturbation of a state, and several noise draws); central differences of
those Monte-Carlo soft returns (the critic's own target quantity, time limits removed,
the critic's value bootstrapped only after ``mc_steps`` steps) estimate the true action
gradient, which is compared with ``∂Q/∂a`` of the min of the twin critics (what ABPT
uses), their mean, and each critic alone.

    python -m trainers.experiments figure5 --seed 0 --out benchmarks/results/figure5/params_s0.csv
    python -m trainers.experiments gradient-bias --seed 0 --out benchmarks/results/figure5/gradient_s0.csv
    python -m trainers.experiments critic-gradient --env DiffQuad-Racing-v0 --seed 0 --out OUT.csv

(one process per seed; ``diffenvs-train figures --fig5 ... --fig5-gradient ...`` takes
the CSVs of all seeds).
"""

from __future__ import annotations

import argparse
import copy
import os

import torch
from torch.nn.utils import parameters_to_vector

from diffenvs.contract import state_clone

from . import make_trainer
from .abpt import CRITIC_REDUCE
from .core.config import parse_set_items
from .core.logger import write_csv
from .core.loop import make_train_env

# The objective (1 - w) J^N + w J^0 by its label: w = 0.5 is ABPT's eq. 9, w = 0 drops the
# 0-step return, and 0.9 shows what a dominant 0-step term would do.
MIXES = {"N-step + 0-step (ABPT)": 0.5, "N-step only (no 0-step)": 0.0, "0.1 N-step + 0.9 0-step": 0.9}


def objective_label(weight: float) -> str:
    """The label of the objective with 0-step weight ``weight`` (those of :data:`MIXES`)."""
    named = {w: label for label, w in MIXES.items()}
    return named.get(weight, f"{1 - weight:g} N-step + {weight:g} 0-step")




# Quiet, unlogged trainers: the experiments record their own rows.
_QUIET = {"progress": False, "tensorboard": False, "log_dir": os.devnull, "eval_every": 0}


def _flat(module: torch.nn.Module) -> torch.Tensor:
    return parameters_to_vector(module.parameters()).detach()


def parameter_difference(env_id: str = "DiffQuad-Hover-v0", detach: tuple[str, ...] = ("position",),
                         iterations: int = 40, seed: int = 0, out: str | None = None,
                         weights: tuple[float, ...] = (0.5, 0.0), **settings) -> list[dict]:
    """Rows ``(objective, seed, iteration, param_difference)``, one objective per 0-step weight
    in ``weights`` (see :data:`MIXES`); also written to ``out`` (CSV) if given. With
    ``critic_warmup`` in ``settings`` both copies first fit their critic with the actor held
    (identically: the detached terms keep their values), so the runs start from a trained critic."""
    rows = []
    settings = {**_QUIET, "seed": seed, **settings}
    env_kwargs = settings.pop("env_kwargs", {})
    for weight in weights:
        label = objective_label(weight)
        switch = {"zero_step": weight > 0, **({"zero_step_weight": weight} if weight > 0 else {})}
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


def critic_gradient(env_id: str = "DiffQuad-Racing-v0", iterations: int = 400, probe_every: int = 20,
                    seed: int = 0, out: str | None = None, probes: int = 16, samples: int = 8, eps: float = 0.05,
                    mc_steps: int = 400, **settings) -> list[dict]:
    """Rows ``(seed, iteration, env_steps, probe, critic, cosine, norm_ratio, fd_self_cosine,
    q_minus_mc, action_peak)`` per probe state and critic reduction (``min``, ``mean``, ``q0``, ``q1``); also
    written to ``out`` (CSV). ``cosine`` and ``norm_ratio`` compare ``∂Q/∂a`` with the
    finite-difference gradient of the Monte-Carlo soft return; ``fd_self_cosine`` is the
    cosine between the finite-difference gradients of two halves of the noise draws (how
    well the reference itself is determined); ``q_minus_mc`` is ``Q(s_0, a_0)`` minus the
    Monte-Carlo return of the unperturbed action (the critic's bias); ``action_peak`` is the
    largest ``|a|`` of the sampled first action (above ``1 - eps`` it was moved inward to
    make room for the perturbation, so the probe is not at the policy's own action)."""
    settings = {**_QUIET, "preset": "paper", **settings}
    trainer = make_trainer("abpt", env_id=env_id, seed=seed, **settings)
    act_dim = trainer.act_dim
    # Probe envs: probes x act_dim x (+, -) x samples; the time limit is lifted because the
    # critic's targets bootstrap through truncations (it values the endless episode).
    cfg = copy.copy(trainer.cfg)
    cfg.env_kwargs = {**cfg.env_kwargs, "max_episode_steps": 10**9}
    probe_env = make_train_env(cfg, num_envs=probes * act_dim * 2 * samples)
    probe_env.reset(seed=seed + 1)
    rows = []
    for it in range(1, iterations + 1):
        trainer.train_iteration()
        if it % probe_every:
            continue
        gen = torch.Generator(device=trainer.device).manual_seed(seed * 100_003 + it)
        for p, critic, cos, ratio, self_cos, bias, peak in _probe_critic(trainer, probe_env, probes, samples, eps,
                                                                          mc_steps, gen):
            rows.append({"seed": seed, "iteration": it, "env_steps": trainer.env_steps, "probe": p,
                         "critic": critic, "cosine": cos, "norm_ratio": ratio, "fd_self_cosine": self_cos,
                         "q_minus_mc": bias, "action_peak": peak, "eps": eps})
    _write_csv(out, rows)
    return rows


def mc_soft_return(trainer, env, start: dict, first_actions: torch.Tensor, noise, steps: int) -> torch.Tensor:
    """Per-env Monte-Carlo soft return ``r_0 + Σ_{1≤t<T} γ^t (r_t - κ log π(a_t|s_t)) +
    γ^T V(s_T)`` (``V``: the trainer's soft value with its online critic; ``T = steps``) of
    taking ``first_actions`` in the states ``start`` and the trainer's stochastic policy
    after, with action noise ``noise(t)``; the return stops at termination. The graph to
    ``first_actions`` is kept when gradients are enabled."""
    actor, gamma, alpha = trainer.actor, trainer.cfg.gamma, trainer.alpha
    env.set_state(start)
    obs, reward, terminated, _, _ = env.step_differentiable(first_actions)
    ret, alive = reward, ~terminated
    for t in range(1, steps + 1):
        o = trainer.norm(trainer.flatten(obs))
        act, log_prob = actor(o, noise=noise(t))
        if t == steps:
            return ret + gamma**t * alive * (trainer.reduce_q(trainer.critic(o, act)) - alpha * log_prob)
        obs, reward, terminated, _, _ = env.step_differentiable(act)
        ret = ret + gamma**t * alive * (reward - alpha * log_prob)
        alive = alive & ~terminated
    return ret


def fd_action_gradient(trainer, env, start: dict, a0: torch.Tensor, eps: float, samples: int, steps: int,
                       gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Central differences in the first action of :func:`mc_soft_return` from ``P`` states
    ``start`` and first actions ``a0`` ``(P, A)``: ``(per-sample gradients (P, A, samples),
    returns (P, A, 2, samples))`` (sign ``+ε`` then ``-ε``). ``env`` holds ``P·A·2·samples``
    envs; every perturbation of a state sees the same action noise (common random numbers),
    drawn from ``gen`` as ``(P, 1, 1, samples, A)`` per step."""
    probes, act_dim = a0.shape
    shape = (probes, act_dim, 2, samples)
    idx = torch.arange(probes, device=a0.device).view(probes, 1, 1, 1).expand(shape).reshape(-1)
    step = torch.zeros(*shape, act_dim, device=a0.device, dtype=a0.dtype)
    eye = torch.eye(act_dim, device=a0.device, dtype=a0.dtype)
    step[:, :, 0] = eps * eye.view(1, act_dim, 1, act_dim)
    step[:, :, 1] = -eps * eye.view(1, act_dim, 1, act_dim)

    def noise(t: int) -> torch.Tensor:
        draw = torch.randn(probes, 1, 1, samples, act_dim, generator=gen, device=a0.device, dtype=a0.dtype)
        return draw.expand(*shape, act_dim).reshape(-1, act_dim)

    with torch.no_grad():
        first = (a0.view(probes, 1, 1, 1, act_dim) + step).reshape(-1, act_dim)
        ret = mc_soft_return(trainer, env, {k: v[idx] for k, v in start.items()}, first, noise, steps)
        env.detach()
        ret = ret.view(shape)
    return (ret[:, :, 0] - ret[:, :, 1]) / (2 * eps), ret


def _probe_critic(trainer, probe_env, probes, samples, eps, mc_steps, gen):
    """One probe of :func:`critic_gradient`: yields ``(probe, critic, cosine, norm_ratio,
    fd_self_cosine, q_minus_mc, action_peak)`` for each critic reduction and probe state."""
    act_dim = trainer.act_dim
    with torch.no_grad():
        start = {k: v.detach()[:probes] for k, v in trainer.env.get_state().items()}
        obs0 = trainer.norm(trainer.flatten(trainer.env.obs).detach()[:probes])
        draw = torch.randn(probes, act_dim, generator=gen, device=obs0.device)
        sampled = trainer.actor(obs0, noise=draw)[0]
        a0 = sampled.clamp(-1 + eps, 1 - eps)  # room for ±ε inside tanh's range
        peak = sampled.abs().amax(-1)  # > 1 - ε: the probe moved a saturated action inward
    a = a0.clone().requires_grad_(True)
    q = trainer.critic(obs0, a)  # (heads, probes)
    reductions = {**{name: CRITIC_REDUCE[name](q) for name in ("min", "mean")},
                  **{f"q{i}": q[i] for i in range(q.shape[0])}}
    grads = {k: torch.autograd.grad(v.sum(), a, retain_graph=True)[0] for k, v in reductions.items()}
    fd, ret = fd_action_gradient(trainer, probe_env, start, a0, eps, samples, mc_steps, gen)
    g_fd = fd.mean(-1)
    with torch.no_grad():
        half = samples // 2
        self_cos = torch.nn.functional.cosine_similarity(fd[..., :half].mean(-1), fd[..., half:].mean(-1), dim=-1)
        mc = ret.mean((1, 2, 3))  # ≈ the return of a_0 itself (the perturbations cancel to first order)
        for name, g in grads.items():
            cos = torch.nn.functional.cosine_similarity(g, g_fd, dim=-1)
            ratio = g.norm(dim=-1) / g_fd.norm(dim=-1).clamp_min(1e-12)
            bias = reductions[name].detach() - mc
            for p in range(probes):
                yield p, name, float(cos[p]), float(ratio[p]), float(self_cos[p]), float(bias[p]), float(peak[p])


def _write_csv(out: str | None, rows: list[dict]) -> None:
    if out and rows:
        write_csv(out, list(rows[0]), rows)


def main(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description="trainers experiments")
    sub = parser.add_subparsers(dest="cmd", required=True)
    commands = {"figure5": (parameter_difference, "parameter difference, full vs partly detached rewards"),
                "gradient-bias": (gradient_bias, "actor-gradient error from detached reward terms, per objective"),
                "critic-gradient": (critic_gradient, "the critic's action gradient against finite differences of "
                                                     "Monte-Carlo returns, over an ABPT run")}
    for name, (_, help_text) in commands.items():
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--env", default="DiffQuad-Racing-v0" if name == "critic-gradient" else "DiffQuad-Hover-v0")
        p.add_argument("--iterations", type=int, default=400 if name == "critic-gradient" else 40)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--num-envs", type=int, default=100)
        p.add_argument("--out", required=True)
        p.add_argument("--threads", type=int, default=None,
                       help="torch threads (default: torch's; use 1 when other jobs share the cores)")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="ABPT setting, e.g. --set lr=0.002 --set critic_warmup=20")
        if name != "figure5":
            p.add_argument("--probe-every", type=int, default=20 if name == "critic-gradient" else 2,
                           help="iterations between probes")
        if name == "critic-gradient":
            p.add_argument("--probes", type=int, default=16, help="probe states (training envs) per probe")
            p.add_argument("--samples", type=int, default=8, help="noise draws per perturbed action")
            p.add_argument("--eps", type=float, default=0.05, help="action perturbation")
            p.add_argument("--mc-steps", type=int, default=400, help="steps of each Monte-Carlo return")
        else:
            p.add_argument("--detach", nargs="+", default=["position"])
        if name == "figure5":
            p.add_argument("--weights", nargs="+", type=float, default=[0.5, 0.0],
                           help="0-step weights w of the objectives (1 - w) J^N + w J^0 (default: 0.5 = ABPT, 0)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    fn = commands[args.cmd][0]
    settings = {"num_envs": args.num_envs, **parse_set_items(args.set)}
    if args.cmd == "critic-gradient":
        rows = fn(args.env, args.iterations, args.probe_every, seed=args.seed, out=args.out, probes=args.probes,
                  samples=args.samples, eps=args.eps, mc_steps=args.mc_steps, **settings)
    else:
        if args.cmd == "figure5":
            settings["weights"] = tuple(args.weights)
        else:
            settings["probe_every"] = args.probe_every
        rows = fn(args.env, tuple(args.detach), args.iterations, seed=args.seed, out=args.out, **settings)
    print(f"{len(rows)} rows -> {args.out}")
    return rows


if __name__ == "__main__":
    main()
