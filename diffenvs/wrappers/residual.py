"""Residual (anchor) policy learning as an env wrapper (residual first-order policy learning paper, §III-B).

The executed action is ``anchor(x) + δ_θ(anchor(x), x)``: a frozen anchor policy plus a
learned residual that also observes the anchor's action. :class:`ResidualEnv`

* adds the anchor's action to the observation (appended to a ``Box`` observation, or as
  the entry ``"anchor_action"`` of a ``Dict`` one),
* adds the anchor's action to the residual it is given, and
* keeps everything differentiable: the anchor's parameters are frozen, but its action
  depends on the (differentiable) observation, so first-order gradients flow through it.

Because the wrapper meets the same contract as the env (:func:`diffenvs.contract.check_vector_env`),
every trainer (BPTT, SHAC, ABPT, and PPO through the SB3 adapter) learns residuals
unchanged. Anchors: the robot's classical controller
(:func:`diffenvs.registry.classical_controller`) or any saved policy
(``trainers.load_policy``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector.utils import batch_space
from torch import Tensor

from ..contract import check_vector_env
from ..errors import to_action_tensor
from ..vector_env import info_to_numpy, obs_map


class ResidualEnv(gym.vector.VectorWrapper):
    """Wrap a batched diffenvs env so that actions are residuals on a frozen anchor.

    Args:
        env: a vector env that meets the diffenvs contract (or a wrapper of one).
        anchor: ``anchor(obs) -> action``, batched and differentiable in ``obs``.
    """

    def __init__(self, env, anchor: Callable[[Tensor], Tensor]):
        check_vector_env(env, who="ResidualEnv")
        super().__init__(env)
        self.base = env.unwrapped
        self.anchor = anchor
        act_dim = self.base.single_action_space.shape[0]
        space = self.base.single_observation_space
        if isinstance(space, gym.spaces.Dict):
            action_space = gym.spaces.Box(-np.inf, np.inf, (act_dim,), np.float32)
            self.single_observation_space = gym.spaces.Dict({**space.spaces, "anchor_action": action_space})
        else:
            obs_dim = space.shape[0] + act_dim
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
    robot = property(lambda self: self.base.robot)
    reward_terms = property(lambda self: self.base.reward_terms)
    differentiable = property(lambda self: self.base.differentiable)
    action_dim = property(lambda self: self.base.action_dim)
    autoreset = property(lambda self: self.base.autoreset)

    def _augment(self, obs):
        a = self.anchor(obs).to(self.base.dtype)
        if isinstance(obs, dict):
            return {**obs, "anchor_action": a}, a
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
        a = to_action_tensor(actions, self.base)
        with torch.no_grad():
            obs, reward, terminated, truncated, info = self.step_differentiable(a)
        return (self.base._to_numpy_obs(obs), reward.float().cpu().numpy().copy(), terminated.cpu().numpy().copy(),
                truncated.cpu().numpy().copy(), info_to_numpy(info))

    def detach(self) -> None:
        self.base.detach()
        self._obs, self._anchor_action = obs_map(Tensor.detach, self._obs), self._anchor_action.detach()

    def get_state(self) -> Tensor:
        return self.base.get_state()

    def set_state(self, state: Tensor, mask: Tensor | None = None) -> Tensor:
        self.base.set_state(state, mask)
        return self._refresh()

    def get_runtime_state(self) -> dict[str, Any]:
        return self.base.get_runtime_state()

    def set_runtime_state(self, runtime: dict[str, Any]) -> None:
        self.base.set_runtime_state(runtime)
