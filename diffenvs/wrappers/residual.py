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

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from .base import ObservationWrapper


class ResidualEnv(ObservationWrapper):
    """Wrap a batched diffenvs env so that actions are residuals on a frozen anchor.

    Args:
        env: a vector env that meets the diffenvs contract (or a wrapper of one).
        anchor: ``anchor(obs) -> action``, batched and differentiable in ``obs``.
    """

    def __init__(self, env, anchor: Callable[[Tensor], Tensor]):
        base = env.unwrapped
        act_dim = base.single_action_space.shape[0]
        space = base.single_observation_space
        if isinstance(space, gym.spaces.Dict):
            action_space = gym.spaces.Box(-np.inf, np.inf, (act_dim,), np.float32)
            augmented = gym.spaces.Dict({**space.spaces, "anchor_action": action_space})
        else:
            augmented = gym.spaces.Box(-np.inf, np.inf, (space.shape[0] + act_dim,), np.float32)
        super().__init__(env, augmented)
        self.anchor = anchor

    def observation(self, obs):
        """The observation with the anchor's action added; the action is also the ``aux``."""
        a = self.anchor(obs).to(self.base.dtype)
        if isinstance(obs, dict):
            return {**obs, "anchor_action": a}, a
        return torch.cat([obs, a], dim=-1), a

    def action(self, residual: Tensor, anchor_action: Tensor) -> Tensor:
        """``anchor(obs) + residual``."""
        return anchor_action + residual
