"""Residual (anchor) policy learning (residual first-order policy learning paper, §III-B).

The executed action is ``anchor(x) + δ_θ(anchor(x), x)``: a frozen anchor policy plus a
learned residual that also observes the anchor's action. It is implemented as an env
wrapper, :class:`ResidualEnv`, that

* appends the anchor's action to the observation (``obs_dim + 4``),
* adds the anchor's action to the residual it is given, and
* keeps everything differentiable: the anchor's parameters are frozen, but its action
  depends on the (differentiable) observation, so first-order gradients flow through it.

Because the wrapper implements the same API as the env, every trainer (BPTT, SHAC,
ABPT, and PPO through the SB3 adapter) learns residuals unchanged. The residual network
itself is configured as the paper prescribes by :func:`residual_net`: layer
normalisation, a last layer initialised near zero, and the action sampling variance
reduced ×10 (standard deviation × 1/√10).

Anchors: ``"classical"`` (:class:`diffenvs.CascadedController`) or the path of a saved
trainer checkpoint (its deterministic policy).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector.utils import batch_space
from torch import Tensor

from .core.networks import NetConfig


def residual_net(net: NetConfig) -> NetConfig:
    """The residual paper's network settings applied to ``net``."""
    return dataclasses.replace(net, layer_norm=True, last_layer_scale=0.01, std_scale=10**-0.5)


class ResidualEnv(gym.vector.VectorWrapper):
    """Wrap a batched diffenvs env so that actions are residuals on a frozen anchor.

    Args:
        env: a :class:`diffenvs.DiffQuadVectorEnv` (or a wrapper of one).
        anchor: ``anchor(obs) -> action``, batched and differentiable in ``obs``.
    """

    def __init__(self, env, anchor: Callable[[Tensor], Tensor]):
        super().__init__(env)
        self.base = env.unwrapped
        self.anchor = anchor
        act_dim = self.base.single_action_space.shape[0]
        obs_dim = self.base.single_observation_space.shape[0] + act_dim
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.base.num_envs)
        self._obs: Tensor | None = None
        self._anchor_action: Tensor | None = None

    # delegated attributes of the protocol
    num_envs = property(lambda self: self.base.num_envs)
    device = property(lambda self: self.base.device)
    dtype = property(lambda self: self.base.dtype)
    max_episode_steps = property(lambda self: self.base.max_episode_steps)
    task = property(lambda self: self.base.task)
    vehicle = property(lambda self: self.base.vehicle)
    reward_terms = property(lambda self: self.base.reward_terms)

    def _augment(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        a = self.anchor(obs).to(obs.dtype)
        return torch.cat([obs, a], dim=-1), a

    def _refresh(self) -> Tensor:
        self._obs, self._anchor_action = self._augment(self.base.obs)
        return self._obs

    @property
    def obs(self) -> Tensor:
        if self._obs is None:
            self._refresh()
        return self._obs

    def reset(self, *, seed=None, options=None):
        self.base.reset(seed=seed, options=options)
        return self.base._to_numpy_obs(self._refresh()), {}

    def step_differentiable(self, residual: Tensor):
        """Step with ``anchor(obs) + residual``; returns augmented observations."""
        obs, reward, terminated, truncated, info = self.base.step_differentiable(self._anchor_action + residual)
        self._obs, self._anchor_action = self._augment(obs)
        if "final_obs" in info:
            info["final_obs"] = self._augment(info["final_obs"])[0]
        return self._obs, reward, terminated, truncated, info

    def step(self, actions):
        from diffenvs.errors import to_action_tensor
        from diffenvs.vector_env import _info_to_numpy

        a = to_action_tensor(actions, self.base)
        with torch.no_grad():
            obs, reward, terminated, truncated, info = self.step_differentiable(a)
        return (self.base._to_numpy_obs(obs), reward.float().cpu().numpy().copy(), terminated.cpu().numpy().copy(),
                truncated.cpu().numpy().copy(), _info_to_numpy(info))

    def detach(self) -> None:
        self.base.detach()
        self._obs, self._anchor_action = self._obs.detach(), self._anchor_action.detach()

    def get_state(self) -> Tensor:
        return self.base.get_state()

    def set_state(self, state: Tensor, mask: Tensor | None = None) -> Tensor:
        self.base.set_state(state, mask)
        return self._refresh()

    def get_runtime_state(self) -> dict[str, Any]:
        return self.base.get_runtime_state()

    def set_runtime_state(self, runtime: dict[str, Any]) -> None:
        self.base.set_runtime_state(runtime)


def load_anchor(spec: str, env) -> Callable[[Tensor], Tensor]:
    """``"classical"`` -> the cascaded controller; a checkpoint path -> its frozen deterministic policy."""
    if spec == "classical":
        from diffenvs import CascadedController

        return CascadedController(env)
    from .core.checkpoint import load_checkpoint
    from .core.networks import Actor
    from .core.normalizer import RunningNorm

    state = load_checkpoint(spec)
    cfg = state["config"]
    if state["algo"] == "ppo":
        from .ppo import PPO

        trainer = PPO.from_checkpoint(spec, progress=False, tensorboard=False)
        trainer.model.policy.requires_grad_(False)
        return trainer.policy
    if cfg.get("residual"):
        raise ValueError(f"anchor checkpoint {spec!r} is itself a residual policy; use a plain policy as anchor")
    base = env.unwrapped
    obs_dim, act_dim = base.single_observation_space.shape[0], base.single_action_space.shape[0]
    net = NetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg["net"].items()})
    actor = Actor(obs_dim, act_dim, net).to(base.device)
    actor.load_state_dict(state["modules"]["actor"])
    norm = RunningNorm(obs_dim).to(base.device)
    norm.load_state_dict(state["modules"]["obs_norm"])
    use_norm = cfg.get("obs_norm", True)
    actor.requires_grad_(False)
    norm.requires_grad_(False)

    def anchor(obs: Tensor) -> Tensor:
        return actor.act(norm(obs) if use_norm else obs)

    return anchor
