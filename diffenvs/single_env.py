"""One drone as a plain ``gymnasium.Env`` (numpy in, numpy out), built on the batched env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from .vector_env import DiffQuadVectorEnv


class DiffQuadEnv(gym.Env):
    """A single quadrotor; the same simulator as :class:`DiffQuadVectorEnv` with ``num_envs=1``.

    Returns ``float`` rewards, ``bool`` flags and fresh float32 arrays. The batched env
    inside runs without autoreset and without a time limit: ``gym.make`` adds
    Gymnasium's ``TimeLimit`` with the registered episode length.

    Args:
        task: task name (see :class:`DiffQuadVectorEnv`).
        render_mode: ``None`` or ``"rgb_array"``.
        **kwargs: any other :class:`DiffQuadVectorEnv` argument except ``num_envs``,
            ``autoreset`` and ``max_episode_steps``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, task: str = "hover", render_mode: str | None = None, **kwargs: Any):
        for key in ("num_envs", "autoreset"):
            if key in kwargs:
                raise TypeError(f"DiffQuadEnv does not take {key!r}; use gym.make_vec for batched envs")
        self.vec = DiffQuadVectorEnv(1, task, autoreset=False, max_episode_steps=0, render_mode=render_mode,
                                     **kwargs)
        self.render_mode = render_mode
        self.observation_space = self.vec.single_observation_space
        self.action_space = self.vec.single_action_space
        self.task = self.vec.task

    @property
    def vehicle(self):
        return self.vec.vehicle

    @property
    def dtype(self):
        return self.vec.dtype

    @property
    def device(self):
        return self.vec.device

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None or not self.vec._seeded:
            self.vec.reset(seed=int(self.np_random.integers(0, 2**62)), options=options)
        else:
            self.vec.reset(options=options)
        return self.vec._to_numpy_obs(self.vec.obs)[0], {}

    def step(self, action):
        action = np.asarray(action)
        if action.shape != (4,):
            raise ValueError(f"action must have shape (4,) (one thrust per rotor), got {action.shape}")
        obs, reward, terminated, truncated, info = self.vec.step(action[None])
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), _first(info)

    def render(self):
        return self.vec.render()

    def get_state(self) -> torch.Tensor:
        """The env state as a ``(state_dim,)`` tensor (see ``DiffQuadVectorEnv.state_layout``)."""
        return self.vec.get_state()[0].detach().clone()

    def set_state(self, state) -> np.ndarray:
        """Continue from a given ``(state_dim,)`` state; returns the observation."""
        obs = self.vec.set_state(torch.as_tensor(state).reshape(1, -1))
        return self.vec._to_numpy_obs(obs)[0]

    def close(self):
        self.vec.close()


def _first(info):
    if isinstance(info, dict):
        return {k: _first(v) for k, v in info.items()}
    if isinstance(info, np.ndarray) and info.ndim >= 1:
        v = info[0]
        return v.item() if np.ndim(v) == 0 else v
    return info
