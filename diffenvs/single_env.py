"""One env as a plain ``gymnasium.Env`` (numpy in, numpy out), built on the batched shell."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from .contract import State
from .vector_env import DiffVectorEnv


class DiffEnv(gym.Env):
    """A single env of any registered robot and task: :class:`DiffVectorEnv` with ``num_envs=1``.

    Returns ``float`` rewards, ``bool`` flags and fresh float32 arrays (or dicts of them).
    The batched env inside runs without autoreset and without a time limit: ``gym.make``
    adds Gymnasium's ``TimeLimit`` with the registered episode length.

    Args:
        robot: robot name (see :class:`DiffVectorEnv`).
        task: task name of that robot.
        render_mode: ``None`` or ``"rgb_array"``.
        **kwargs: any other :class:`DiffVectorEnv` argument except ``num_envs``,
            ``autoreset`` and ``max_episode_steps``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, robot: str, task: str, render_mode: str | None = None,
                 **kwargs: Any):
        for key in ("num_envs", "autoreset"):
            if key in kwargs:
                raise TypeError(f"{type(self).__name__} does not take {key!r}; use gym.make_vec for batched envs")
        self.vec = DiffVectorEnv(1, robot, task, autoreset=False, max_episode_steps=0, render_mode=render_mode,
                                 **kwargs)
        self.render_mode = render_mode
        self.observation_space = self.vec.single_observation_space
        self.action_space = self.vec.single_action_space
        self.task = self.vec.task
        self.robot = self.vec.robot

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
        return _first(self.vec._to_numpy_obs(self.vec.obs)), {}

    def step(self, action):
        action = np.asarray(action)
        if action.shape != self.action_space.shape:
            raise ValueError(f"action must have shape {self.action_space.shape} ({self.robot.action_doc}), "
                             f"got {action.shape}")
        obs, reward, terminated, truncated, info = self.vec.step(action[None])
        return _first(obs), float(reward[0]), bool(terminated[0]), bool(truncated[0]), _first(info)

    def render(self):
        """The env's picture, an ``H x W x 3`` uint8 array (640x480), or ``None`` with a
        warning without ``render_mode="rgb_array"``."""
        frames = self.vec.render()
        return None if frames is None else frames[0]

    def get_state(self) -> State:
        """The env state: a dict of per-env tensors (see ``DiffVectorEnv.state_spec``)."""
        return {k: v[0].detach().clone() for k, v in self.vec.get_state().items()}

    def set_state(self, state: State):
        """Continue from a given state (as :meth:`get_state` returns it); returns the observation."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict of tensors (take it from env.get_state()), got "
                            f"{type(state).__name__}")
        obs = self.vec.set_state({k: torch.as_tensor(v).unsqueeze(0) for k, v in state.items()})
        return _first(self.vec._to_numpy_obs(obs))

    def close(self):
        self.vec.close()


def _first(info):
    if isinstance(info, dict):
        return {k: _first(v) for k, v in info.items()}
    if isinstance(info, np.ndarray) and info.ndim >= 1:
        v = info[0]
        return v.item() if np.ndim(v) == 0 else v
    return info
