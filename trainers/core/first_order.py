"""What BPTT, SHAC and ABPT share: the differentiable rollout and the training loop.

Each algorithm subclasses :class:`FirstOrderTrainer` and implements
:meth:`FirstOrderTrainer.train_iteration` (one horizon: roll out, update, report).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from diffenvs.contract import check_vector_env
from diffenvs.vector_env import obs_map
from diffenvs.wrappers.flatten import obs_layout

from .checkpoint import restore_run_state, run_state
from .config import TrainConfig, config_from_dict
from .loop import TrainerBase, begin_learning, end_iteration, make_train_env, policy_obs_layout
from .networks import Actor, NetConfig, adam, residual_net
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
    states: dict[str, Tensor] | None  # field -> (H, N, *shape) detached env states (ABPT's state replay)
    episode_returns: Tensor  # (H, N) undiscounted returns of episodes that ended (see dones)
    episode_lengths: Tensor  # (H, N)


def rollout(env, actor: Actor, norm, horizon: int, record_states: bool = False,
            flatten: Callable[[Any], Tensor] = lambda obs: obs) -> Rollout:
    """Unroll ``horizon`` steps of ``actor`` through the env in one ``env.rollout`` call
    (exactly ``horizon`` calls of ``step_differentiable``; with ``compile=True`` compiled
    chunks of steps, the actor's forward included).

    ``flatten`` turns the env's observation (a tensor or a dict of tensors) into the
    ``(N, obs_dim)`` tensor the networks see; ``norm`` normalises it.
    """

    def policy(raw_obs):
        obs = flatten(raw_obs)
        o = norm(obs)
        action, log_prob = actor(o)
        return action, {"obs": o, "log_prob": log_prob, "raw": obs.detach()}

    _, reward, terminated, truncated, info = env.rollout(policy=policy, steps=horizon, return_states=record_states)
    seen, final = info["policy"], info["final_info"]
    states = {k: v.detach() for k, v in info["states"].items()} if record_states else None
    # The pre-reset observations, (H, N, ...): flattened as one batch of H * N rows.
    next_obs = flatten(obs_map(lambda v: v.flatten(0, 1), info["final_obs"])).view(*reward.shape, -1)
    return Rollout(seen["obs"], info["actions"], seen["log_prob"], reward, terminated | truncated, terminated,
                   norm(next_obs), seen["raw"], states, final["episode_return"], final["episode_length"])


class FirstOrderTrainer(TrainerBase):
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
        check_vector_env(self.env, who=f"{self.algo.upper()}")
        self.env.reset(seed=cfg.seed)
        self.device = self.env.device
        self.obs_dim, self.flatten, self.image = obs_layout(self.env.single_observation_space)
        self.act_dim = self.env.single_action_space.shape[0]
        self.obs_norm = RunningNorm(self.obs_dim).to(self.device)
        self.actor = Actor(self.obs_dim, self.act_dim, self.net_config(cfg), self.image).to(self.device)
        self.actor_opt = adam(self.actor.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.build()
        self.env_steps = 0
        #: Updates skipped because a value was not finite (actor, critic or normaliser; logged).
        self.skipped_updates = 0
        self._init_loop()

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

    @staticmethod
    def net_config(cfg: FirstOrderConfig) -> NetConfig:
        """The actor's shape: ``cfg.net``, with the residual paper's settings for residual runs."""
        return residual_net(cfg.net) if cfg.residual else cfg.net

    def norm(self, obs: Tensor) -> Tensor:
        return self.obs_norm(obs) if self.cfg.obs_norm else obs

    @torch.no_grad()
    def policy(self, obs) -> Tensor:
        """The deterministic policy ``tanh(μ(normalise(obs)))`` (evaluation, deployment)."""
        return self.actor.act(self.norm(self.flatten(obs)))

    def rollout(self, record_states: bool = False) -> Rollout:
        """One horizon of the stochastic actor through the env (see :func:`rollout`)."""
        return rollout(self.env, self.actor, self.norm, self.cfg.horizon, record_states, self.flatten)

    @classmethod
    def load_policy(cls, state: dict[str, Any], env=None, source: str = "checkpoint") -> Callable[[Any], Tensor]:
        """The frozen deterministic policy stored in a checkpoint's ``state`` (see
        :func:`trainers.load_policy`); ``env`` gives the device and checks the shapes."""
        cfg = config_from_dict(cls.Config, state["config"])
        weights = state["modules"]["actor"]
        obs_dim = state["modules"]["obs_norm"]["mean"].shape[0]  # the normaliser is saved whether used or not
        device = env.unwrapped.device if env is not None else torch.device("cpu")
        flatten, image = policy_obs_layout(env, obs_dim, source)
        net = cls.net_config(cfg)
        if net.encoder in ("nature_cnn", "fusion") and image is None:
            raise ValueError(f"policy {source!r} has an image encoder: pass the env it runs in")
        actor = Actor(obs_dim, weights["mean.weight"].shape[0], net, image).to(device)
        actor.load_state_dict(weights)
        norm = RunningNorm(obs_dim).to(device)
        norm.load_state_dict(state["modules"]["obs_norm"])
        actor.requires_grad_(False)
        norm.requires_grad_(False)
        use_norm = cfg.obs_norm

        def policy(obs) -> Tensor:
            o = flatten(obs)
            return actor.act(norm(o) if use_norm else o)

        return policy

    def lr_factor(self) -> float:
        return max(0.0, 1.0 - self.env_steps / self.cfg.total_steps) if self.cfg.lr_decay else 1.0

    def set_lr(self, optimizer: torch.optim.Optimizer, base_lr: float) -> float:
        lr = base_lr * self.lr_factor()
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def step_actor(self, loss: Tensor) -> float:
        """Backward, clip, Adam step of the actor; returns the gradient norm before clipping.

        A loss or gradient that is not finite skips the step (counted in ``skipped_updates``;
        the norm is then NaN) rather than corrupt the actor.
        """
        self.set_lr(self.actor_opt, self.cfg.lr)
        self.actor_opt.zero_grad(set_to_none=True)
        if not loss.requires_grad:  # e.g. rewards made only of non-differentiable terms
            return 0.0
        loss.backward()
        # One pass computes the norm (returned before clipping) and clips; inf: no clipping.
        max_norm = self.cfg.max_grad_norm if self.cfg.max_grad_norm > 0 else math.inf
        norm = torch.nn.utils.clip_grad_norm_(self.actor.parameters(), max_norm)
        if not torch.isfinite(norm):  # a non-finite loss gives a non-finite norm too
            self.actor_opt.zero_grad(set_to_none=True)
            self.skipped_updates += 1
            return float("nan")
        self.actor_opt.step()
        return float(norm)

    def after_rollout(self, ro: Rollout) -> dict[str, float]:
        """Update the normaliser, cut the graph, count steps; returns episode statistics."""
        if self.cfg.obs_norm and not self.obs_norm.update(ro.raw_obs):
            self.skipped_updates += 1  # statistics that would not be finite are not merged
        self.env.detach()
        self.env_steps += ro.rewards.numel()
        finished = ro.dones
        n = int(finished.sum())
        if n == 0:
            return {}
        return {"episode_return": float(ro.episode_returns[finished].detach().mean()),
                "episode_length": float(ro.episode_lengths[finished].float().mean())}

    # --------------------------------------------------------------------- loop
    def learn(self, resume: bool = False) -> dict[str, float]:
        """Train until ``total_steps``; returns the last evaluation."""
        loop = begin_learning(self, resume)
        try:
            while self.env_steps < self.cfg.total_steps:
                t0 = time.perf_counter()
                stats = self.train_iteration()
                self.wall_time += time.perf_counter() - t0
                self.iteration += 1
                end_iteration(self, loop, {"iteration": self.iteration, "env_steps": self.env_steps,
                                           "wall_time": self.wall_time, **stats,
                                           "skipped_updates": self.skipped_updates})
        finally:
            loop.close()
        return loop.last_eval

    # -------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {**run_state(self), "extra": self.extra_state(), "skipped_updates": self.skipped_updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        restore_run_state(self, state)
        self.iteration, self.env_steps, self.wall_time = state["iteration"], state["env_steps"], state["wall_time"]
        self.skipped_updates = int(state.get("skipped_updates", 0))
        self.load_extra_state(state["extra"])
