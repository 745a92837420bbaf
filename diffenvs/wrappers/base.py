"""The base of diffenvs wrappers that transform observations (and optionally actions)
while keeping the batched, differentiable protocol of the env they wrap."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from gymnasium.vector.utils import batch_space
from torch import Tensor

from ..contract import check_vector_env
from ..errors import to_action_tensor
from ..vector_env import info_to_numpy, obs_map, rollout_by_steps


class ObservationWrapper(gym.vector.VectorWrapper):
    """Wrap a batched diffenvs env, changing what the agent observes (and does).

    Subclasses implement :meth:`observation` (differentiable in the env's observation)
    and may override :meth:`action`. ``step_differentiable`` keeps the graph through
    both; ``info["final_obs"]`` is transformed too. Everything else (state access,
    ``detach``, the runtime state, the protocol's attributes) is the wrapped env's.
    Wrappers stack: observations, steps and states go through the wrapped env (itself
    possibly a wrapper), the protocol's attributes come from the innermost env.

    Args:
        env: a vector env that meets the diffenvs contract (or a wrapper of one).
        single_observation_space: the space of one transformed observation.
    """

    def __init__(self, env, single_observation_space: gym.Space):
        check_vector_env(env, who=type(self).__name__)
        super().__init__(env)
        self.base = env.unwrapped
        self.single_observation_space = single_observation_space
        self.observation_space = batch_space(single_observation_space, self.base.num_envs)
        self._obs: Any = None
        self._aux: Any = None

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

    # -------------------------------------------------------------- to override
    def observation(self, obs) -> tuple[Any, Any]:
        """``(transformed obs, aux)`` of an env observation; ``aux`` (anything, e.g. an
        anchor's action) is kept for :meth:`action` of the next step."""
        raise NotImplementedError

    def action(self, action: Tensor, aux: Any) -> Tensor:
        """The env action for the agent's ``action`` (``aux`` from the current observation)."""
        return action

    # ------------------------------------------------------------------ protocol
    def _refresh(self):
        self._obs, self._aux = self.observation(self.env.obs)
        return self._obs

    @property
    def obs(self):
        if self._obs is None:
            self._refresh()
        return self._obs

    def reset(self, *, seed=None, options=None):
        self.env.reset(seed=seed, options=options)
        return self.base._to_numpy_obs(self._refresh()), {}

    def step_differentiable(self, action: Tensor):
        """Step with the agent's action; returns transformed observations (with graph)."""
        if self._obs is None:
            self._refresh()
        obs, reward, terminated, truncated, info = self.env.step_differentiable(self.action(action, self._aux))
        self._obs, self._aux = self.observation(obs)
        if "final_obs" in info:
            info["final_obs"] = self.observation(info["final_obs"])[0]
        return self._obs, reward, terminated, truncated, info

    def rollout(self, actions: Tensor | None = None, *, policy=None, steps: int | None = None,
                return_states: bool = False):
        """:meth:`~diffenvs.vector_env.DiffVectorEnv.rollout` through the wrapper: the same
        arguments and results (transformed observations), run step by step; a step that
        raises undoes the whole call."""
        if self._obs is None:
            self._refresh()
        steps = self.base._rollout_args(actions, policy, steps)
        saved, mine = self.base._snapshot(), (self._obs, self._aux)

        def undo():
            self.base._restore(saved)
            self._obs, self._aux = mine

        return rollout_by_steps(self, actions, policy, steps, return_states, undo)

    def step(self, actions):
        a = to_action_tensor(actions, self.base)
        with torch.no_grad():
            obs, reward, terminated, truncated, info = self.step_differentiable(a)
        return (self.base._to_numpy_obs(obs), reward.float().cpu().numpy().copy(), terminated.cpu().numpy().copy(),
                truncated.cpu().numpy().copy(), info_to_numpy(info))

    def detach(self) -> None:
        self.env.detach()
        if self._obs is not None:
            self._obs = obs_map(Tensor.detach, self._obs)
        if isinstance(self._aux, Tensor):
            self._aux = self._aux.detach()

    def get_state(self):
        return self.env.get_state()

    def set_state(self, state, mask: Tensor | None = None):
        self.env.set_state(state, mask)
        return self._refresh()

    def get_runtime_state(self) -> dict[str, Any]:
        return self.env.get_runtime_state()

    def set_runtime_state(self, runtime: dict[str, Any]) -> None:
        self.env.set_runtime_state(runtime)
