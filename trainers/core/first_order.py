"""What BPTT, SHAC and ABPT share: the differentiable rollout and the training loop.

Each algorithm subclasses :class:`FirstOrderTrainer` and implements
:meth:`FirstOrderTrainer.train_iteration` (one horizon: roll out, update, report).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from .checkpoint import load_checkpoint, next_multiple, restore_run_state, run_state, save_checkpoint
from .config import TrainConfig, config_from_dict
from .evaluate import evaluate
from .logger import Logger
from .networks import Actor, NetConfig
from .normalizer import RunningNorm


@dataclass
class FirstOrderConfig(TrainConfig):
    """Settings shared by the first-order trainers (in addition to :class:`trainers.core.config.TrainConfig`).

    Attributes:
        lr: actor learning rate (Adam).
        gamma: discount factor.
        horizon: steps unrolled through the simulator per update.
        weight_decay: Adam weight decay.
        lr_decay: decay the learning rates linearly to 0 over ``total_steps``.
        max_grad_norm: clip the actor's gradient norm (``0``: off).
        obs_norm: normalise observations with running statistics.
        net: network shape (:class:`trainers.core.networks.NetConfig`).
    """

    lr: float = 0.01
    gamma: float = 0.99
    horizon: int = 96
    weight_decay: float = 1e-5
    lr_decay: bool = False
    max_grad_norm: float = 1.0
    obs_norm: bool = True
    net: NetConfig = field(default_factory=NetConfig)


@dataclass
class Rollout:
    """One horizon of a differentiable rollout (``H`` steps, ``N`` envs).

    Observations are normalised. ``rewards``, ``obs``, ``next_obs``, ``actions`` and
    ``log_probs`` keep the autograd graph back to the actor's parameters and through
    the simulator; ``next_obs[t]`` is the observation of the true next state (the
    pre-reset one where an episode ended at ``t``).
    """

    obs: Tensor  # (H, N, obs_dim)
    actions: Tensor  # (H, N, act_dim)
    log_probs: Tensor  # (H, N)
    rewards: Tensor  # (H, N)
    dones: Tensor  # (H, N) bool: the episode ended at this step
    terminated: Tensor  # (H, N) bool: ended by termination (no value bootstrap)
    next_obs: Tensor  # (H, N, obs_dim)
    raw_obs: Tensor  # (H, N, obs_dim) un-normalised, detached (normaliser statistics)
    states: Tensor | None  # (H, N, state_dim) detached env states (ABPT's state replay)
    episode_returns: Tensor  # (H, N) undiscounted returns of episodes that ended (see dones)
    episode_lengths: Tensor  # (H, N)


def rollout(env, actor: Actor, norm, horizon: int, record_states: bool = False) -> Rollout:
    """Unroll ``horizon`` steps of ``actor`` through ``env.step_differentiable``."""
    fields: dict[str, list[Tensor]] = {k: [] for k in ("obs", "actions", "log_probs", "rewards", "dones",
                                                      "terminated", "next_obs", "raw", "states", "ret", "len")}
    obs = env.obs
    for _ in range(horizon):
        if record_states:
            fields["states"].append(env.get_state().detach())
        o = norm(obs)
        action, log_prob = actor(o)
        obs_next, reward, terminated, truncated, info = env.step_differentiable(action)
        final = info["final_info"]
        for key, value in (("obs", o), ("actions", action), ("log_probs", log_prob), ("rewards", reward),
                           ("dones", terminated | truncated), ("terminated", terminated),
                           ("next_obs", norm(info["final_obs"])), ("raw", obs.detach()),
                           ("ret", final["episode_return"]), ("len", final["episode_length"])):
            fields[key].append(value)
        obs = obs_next
    stack = {k: torch.stack(v) if v else None for k, v in fields.items()}
    return Rollout(stack["obs"], stack["actions"], stack["log_probs"], stack["rewards"], stack["dones"],
                   stack["terminated"], stack["next_obs"], stack["raw"], stack["states"], stack["ret"], stack["len"])


def make_train_env(cfg: TrainConfig, num_envs: int | None = None):
    """The batched env of a config: ``gym.make_vec`` plus the residual wrapper if asked for."""
    import gymnasium as gym

    import diffenvs  # noqa: F401  (registers the ids)

    kwargs = dict(cfg.env_kwargs)
    kwargs.setdefault("device", cfg.device)
    if cfg.compile:
        kwargs["compile"] = True
    env = gym.make_vec(cfg.env_id, num_envs=num_envs or cfg.num_envs, **kwargs)
    if cfg.residual:
        from ..residual import ResidualEnv, load_anchor

        env = ResidualEnv(env, load_anchor(cfg.residual, env))
    return env


class FirstOrderTrainer:
    """Training loop shared by the first-order algorithms.

    Subclasses set ``algo`` and ``Config``, build their extra networks in
    :meth:`build`, list them in :meth:`modules`/:meth:`optimizers`, and implement
    :meth:`train_iteration`.
    """

    algo: ClassVar[str]
    Config: ClassVar[type[FirstOrderConfig]] = FirstOrderConfig

    def __init__(self, cfg: FirstOrderConfig, env=None):
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        self.env = env if env is not None else make_train_env(cfg)
        self.env.reset(seed=cfg.seed)
        self.device = self.env.device
        self.obs_dim = self.env.single_observation_space.shape[0]
        self.act_dim = self.env.single_action_space.shape[0]
        self.obs_norm = RunningNorm(self.obs_dim).to(self.device)
        net = cfg.net
        if cfg.residual:
            from ..residual import residual_net

            net = residual_net(net)
        self.actor = Actor(self.obs_dim, self.act_dim, net).to(self.device)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.build()
        self.iteration = 0
        self.env_steps = 0
        self.wall_time = 0.0
        self._eval_env = None
        self.log_dir = cfg.log_dir or os.path.join("runs", f"{self.algo}-{cfg.env_id}-s{cfg.seed}")

    # --------------------------------------------------------------- to override
    def build(self) -> None:
        """Create algorithm-specific networks and optimizers."""

    def modules(self) -> dict[str, torch.nn.Module]:
        """The modules saved in checkpoints, by name."""
        return {"actor": self.actor, "obs_norm": self.obs_norm}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers saved in checkpoints, by name."""
        return {"actor": self.actor_opt}

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def train_iteration(self) -> dict[str, float]:
        """One horizon: roll out, update, and return the values to log (see ``COLUMNS``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    @property
    def steps_per_iteration(self) -> int:
        return self.cfg.horizon * self.env.num_envs

    def norm(self, obs: Tensor) -> Tensor:
        return self.obs_norm(obs) if self.cfg.obs_norm else obs

    @torch.no_grad()
    def policy(self, obs: Tensor) -> Tensor:
        """The deterministic policy ``tanh(μ(normalise(obs)))`` (evaluation, deployment)."""
        return self.actor.act(self.norm(obs))

    def lr_factor(self) -> float:
        return max(0.0, 1.0 - self.env_steps / self.cfg.total_steps) if self.cfg.lr_decay else 1.0

    def set_lr(self, optimizer: torch.optim.Optimizer, base_lr: float) -> float:
        lr = base_lr * self.lr_factor()
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def step_actor(self, loss: Tensor) -> float:
        """Backward, clip, Adam step of the actor; returns the gradient norm before clipping."""
        self.set_lr(self.actor_opt, self.cfg.lr)
        self.actor_opt.zero_grad(set_to_none=True)
        if not loss.requires_grad:  # e.g. rewards made only of non-differentiable terms
            return 0.0
        loss.backward()
        params = list(self.actor.parameters())
        grads = [p.grad for p in params if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])) if grads else \
            torch.zeros(())
        if not torch.isfinite(norm):  # a diverged rollout: skip the update rather than corrupt the actor
            self.actor_opt.zero_grad(set_to_none=True)
            return float("nan")
        if self.cfg.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, self.cfg.max_grad_norm)
        self.actor_opt.step()
        return float(norm)

    def after_rollout(self, ro: Rollout) -> dict[str, float]:
        """Update the normaliser, cut the graph, count steps; returns episode statistics."""
        if self.cfg.obs_norm:
            self.obs_norm.update(ro.raw_obs)
        self.env.detach()
        self.env_steps += ro.rewards.numel()
        finished = ro.dones
        n = int(finished.sum())
        if n == 0:
            return {}
        return {"episode_return": float(ro.episode_returns[finished].detach().mean()),
                "episode_length": float(ro.episode_lengths[finished].float().mean())}

    # --------------------------------------------------------------------- loop
    def evaluate(self) -> dict[str, float]:
        """Evaluate the deterministic policy (:func:`trainers.core.evaluate.evaluate`)."""
        if self._eval_env is None:
            self._eval_env = make_train_env(self.cfg, num_envs=self.cfg.eval_envs)
        return evaluate(self.policy, self._eval_env, seed=self.cfg.seed + 10_000)

    def learn(self, resume: bool = False) -> dict[str, float]:
        """Train until ``total_steps``; returns the last evaluation."""
        cfg = self.cfg
        logger, bar, last_eval = begin_learning(self, resume)
        next_eval = self._next_multiple(cfg.eval_every)
        next_ckpt = self._next_multiple(cfg.checkpoint_every)
        try:
            while self.env_steps < cfg.total_steps:
                t0 = time.perf_counter()
                stats = self.train_iteration()
                self.wall_time += time.perf_counter() - t0
                self.iteration += 1
                row = {"iteration": self.iteration, "env_steps": self.env_steps, "wall_time": self.wall_time,
                       **stats}
                done = self.env_steps >= cfg.total_steps
                if done or (next_eval and self.env_steps >= next_eval):
                    last_eval = self.evaluate()
                    row.update(eval_columns(last_eval))
                    next_eval = self._next_multiple(cfg.eval_every)
                logger.log(row)
                if done or (next_ckpt and self.env_steps >= next_ckpt):
                    self.save(os.path.join(self.log_dir, "checkpoint.pt"))
                    next_ckpt = self._next_multiple(cfg.checkpoint_every)
                if bar is not None:
                    bar.update(self.env_steps - bar.n)
                    shown = {k: f"{v:.3g}" for k, v in row.items() if k in ("episode_return", "eval_metric")
                             and isinstance(v, float) and math.isfinite(v)}
                    bar.set_postfix(shown, refresh=False)
        finally:
            if bar is not None:
                bar.close()
            logger.close()
        return last_eval

    def _next_multiple(self, every: int) -> int:
        return next_multiple(self.env_steps, every)

    # -------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        env = self.env
        return {
            **run_state(self),
            "env_state": env.get_state().detach().clone(),
            "env_runtime": env.get_runtime_state(),
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        restore_run_state(self, state)
        self.iteration, self.env_steps, self.wall_time = state["iteration"], state["env_steps"], state["wall_time"]
        self.env.set_state(state["env_state"].to(self.device))
        self.env.set_runtime_state(state["env_runtime"])
        self.load_extra_state(state["extra"])

    def save(self, path: str) -> str:
        """Write an atomic, ``weights_only``-loadable checkpoint."""
        return save_checkpoint(path, self.state_dict())

    @classmethod
    def from_checkpoint(cls, path: str, **overrides):
        """Rebuild a trainer (same config, optionally overridden) and restore its state."""
        from .config import apply_overrides

        state = load_checkpoint(path)
        cfg = apply_overrides(config_from_dict(cls.Config, state["config"]), overrides)
        trainer = cls(cfg)
        trainer.load_state_dict(state)
        return trainer


def begin_learning(trainer, resume: bool):
    """What every trainer's ``learn`` starts with: the logger, the progress bar (or
    ``None``), and an evaluation logged at step 0 for a fresh run (``{}`` when resuming)."""
    cfg = trainer.cfg
    logger = Logger(trainer.log_dir, tensorboard=cfg.tensorboard, resume=resume, resume_steps=trainer.env_steps)
    bar = None
    if cfg.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.total_steps, initial=trainer.env_steps, unit="step",
                   desc=f"{trainer.algo} {cfg.env_id}", dynamic_ncols=True)
    last_eval = trainer.evaluate() if trainer.env_steps == 0 else {}
    if last_eval:
        logger.log({"iteration": 0, "env_steps": 0, "wall_time": 0.0, **eval_columns(last_eval)})
    return logger, bar, last_eval


def eval_columns(result: dict[str, float]) -> dict[str, float]:
    """The evaluation results that go into the log."""
    return {k: result[k] for k in ("eval_return", "eval_success", "eval_metric") if k in result}
