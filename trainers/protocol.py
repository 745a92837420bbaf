"""The env API that the trainers rely on (SPEC §2), as a runtime-checkable Protocol.

Any environment that implements these members can be trained by ``trainers``, and
``diffenvs.DiffQuadVectorEnv`` implements them.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class DifferentiableVectorEnv(Protocol):
    """A batched, differentiable Gymnasium vector env.

    Attributes:
        num_envs: batch size N.
        device: torch device of every tensor the env returns.
        dtype: floating dtype of observations, rewards and states.
        single_observation_space: Gymnasium space of one observation.
        single_action_space: Gymnasium ``Box(-1, 1)`` space of one action.
        max_episode_steps: time limit (0 = none).
    """

    num_envs: int
    device: torch.device
    dtype: torch.dtype
    single_observation_space: Any
    single_action_space: Any
    max_episode_steps: int

    @property
    def obs(self) -> torch.Tensor:
        """Current observation ``(N, obs_dim)`` (with graph)."""

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        """Gymnasium reset; options ``reset_mask`` and ``state``."""

    def step_differentiable(self, actions: torch.Tensor) -> tuple[Any, ...]:
        """``(obs, reward, terminated, truncated, info)`` tensors with graph; SAME_STEP autoreset
        and the pre-reset observation in ``info["final_obs"]``."""

    def detach(self) -> None:
        """Cut the autograd graph at the current state."""

    def get_state(self) -> torch.Tensor:
        """Current env states ``(N, state_dim)``."""

    def set_state(self, state: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Start episodes from given states (all rows or ``mask``); returns the observation."""
