"""The natively batched, differentiable quadrotor environment (a Gymnasium ``VectorEnv``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space
from torch import Tensor

from .core.dynamics import POS, STATE_DIM, action_to_thrust, integrate
from .core.grad import scale_grad, straight_through_clamp
from .core.params import DEFAULT_VEHICLE, ParamTensors, QuadrotorParams, get_vehicle
from .errors import check_action_tensor, check_finite_flag, check_state_tensor, to_action_tensor
from .tasks import Task, make_task

ACTION_DIM = 4
# The C++ wrapper removes most of inductor's per-call Python overhead, which dominates
# for small batches on CPU.
_COMPILE_OPTIONS = {"cpp_wrapper": True}
_STEP_COL = STATE_DIM  # column of the episode step counter in the env state


def _allow_compiled_envs(per_env: int = 3, envs: int = 64) -> None:
    """Let many compiled envs coexist.

    Dynamo caches compiled code per code object and guards on ``self``, so every env
    instance (times its grad modes: no grad, grad, grad through the state) adds cache
    entries; past ``recompile_limit`` (8 by default) it would silently fall back to eager.
    """
    import torch._dynamo

    cfg = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(cfg, name):
            setattr(cfg, name, max(getattr(cfg, name), per_env * envs))
    if hasattr(cfg, "accumulated_recompile_limit"):
        cfg.accumulated_recompile_limit = max(cfg.accumulated_recompile_limit, 4 * per_env * envs)


def resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    return dtype


def resolve_device(device: torch.device | str) -> torch.device:
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device} requested but CUDA is not available; use device='cpu'")
    return device


class DiffQuadVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` quadrotors simulated together in PyTorch, differentiable end to end.

    Args:
        num_envs: number of drones simulated in one batch.
        task: task name (``"hover"``, ``"tracking"``, ``"landing"``, ``"racing"``,
            ``"racing_velocity"``) or a
            :class:`~diffenvs.tasks.Task` subclass.
        task_options: task options (see each task's ``Config``); unknown names raise.
        device: torch device of all tensors (``"cpu"`` or ``"cuda"``).
        dtype: ``torch.float32`` (default) or ``torch.float64`` (gradient checks).
        vehicle: preset name (``"drone460"``, ``"drone730"``) or a
            :class:`~diffenvs.core.QuadrotorParams`.
        dt: control and physics step, s.
        integrator: ``"euler"`` (the paper's) or ``"rk4"``.
        motor_lag: first-order motor lag with the vehicle's time constant.
        max_episode_steps: episode length; ``None`` uses the task's default (256, or 512
            for racing); ``0`` disables truncation.
        grad_decay: factor multiplying the gradient flowing back through the state at
            every step (1 = exact gradients).
        autoreset: reset finished episodes in the same step (Gymnasium ``SAME_STEP``).
        check_inputs: validate actions (shape, dtype, device, finiteness) on every step.
        detach_reward_terms: names of reward terms whose value is kept but whose gradient
            is cut, to study partially differentiable rewards (ABPT paper Figure 5).
        compile: run the step's pure transition function through ``torch.compile``
            (faster after a one-off compilation of tens of seconds; see docs/benchmarks).
        render_mode: ``None`` or ``"rgb_array"``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50, "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        task: str | type[Task] = "hover",
        task_options: dict[str, Any] | None = None,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype | str = torch.float32,
        vehicle: str | QuadrotorParams = DEFAULT_VEHICLE,
        dt: float = 0.02,
        integrator: str = "euler",
        motor_lag: bool = False,
        max_episode_steps: int | None = None,
        grad_decay: float = 1.0,
        autoreset: bool = True,
        check_inputs: bool = True,
        compile: bool = False,
        detach_reward_terms: tuple[str, ...] | list[str] = (),
        render_mode: str | None = None,
    ):
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        if integrator not in ("euler", "rk4"):
            raise ValueError(f"unknown integrator {integrator!r}; choose 'euler' or 'rk4'")
        if not dt > 0:
            raise ValueError(f"dt must be positive, got {dt}")
        if not 0.0 < grad_decay <= 1.0:
            raise ValueError(f"grad_decay must be in (0, 1], got {grad_decay}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"unsupported render_mode {render_mode!r}; use None or 'rgb_array'")
        self.num_envs = num_envs
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        self.vehicle = get_vehicle(vehicle)
        self.params = ParamTensors(self.vehicle, dtype=self.dtype, device=self.device)
        self.dt = float(dt)
        self.integrator = integrator
        self.motor_lag = bool(motor_lag)
        self.grad_decay = float(grad_decay)
        self.autoreset = bool(autoreset)
        self.check_inputs = bool(check_inputs)
        self.render_mode = render_mode
        self.task = make_task(task, task_options, params=self.vehicle, dt=self.dt, dtype=self.dtype,
                              device=self.device)
        if max_episode_steps is None:
            max_episode_steps = self.task.default_episode_steps
        if not isinstance(max_episode_steps, int) or max_episode_steps < 0:
            raise ValueError(f"max_episode_steps must be a non-negative int or None, got {max_episode_steps!r}")
        self.max_episode_steps = max_episode_steps
        unknown = sorted(set(detach_reward_terms) - set(self.task.reward_term_names))
        if unknown:
            raise ValueError(f"unknown reward term(s) {unknown} in detach_reward_terms; the {self.task.name} task has "
                             f"{list(self.task.reward_term_names)}")
        self.detach_reward_terms = tuple(detach_reward_terms)
        self.state_dim = STATE_DIM + 1 + self.task.task_state_dim

        obs_dim = self.task.obs_dim
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)

        self._gen = torch.Generator(device=self.device)
        self._seeded = False
        self._arena_center = 0.5 * (self.task.arena_low + self.task.arena_high)
        self._arena_half = 0.5 * (self.task.arena_high - self.task.arena_low)
        cfg = self.task.cfg
        self._limits_sq = torch.tensor([cfg.max_speed**2, cfg.max_rate**2], dtype=self.dtype, device=self.device)
        # Pool of pre-sampled episode starts (and their observations) for autoreset:
        # sampling K batches at once costs about as much as sampling one, and each
        # sample is used at most once, in a fixed order, so runs stay deterministic.
        self._pool_batches = max(1, min(16, 65536 // num_envs))
        self._pool_states: Tensor | None = None
        self._pool_obs: Tensor | None = None
        self._pool_next = self._pool_batches
        self._pool_rng: Tensor | None = None  # generator state the pool was sampled from
        zeros = torch.zeros(num_envs, dtype=self.dtype, device=self.device)
        self._episode_return = zeros
        # Running counts of diverged and out-of-bounds drones (see the properties).
        self._counters = torch.zeros(2, dtype=torch.int64, device=self.device)
        self._state: Tensor | None = None
        self._obs: Tensor | None = None
        self._renderer = None
        self.compiled = bool(compile)
        self._transition_fn = self.transition
        if compile:
            _allow_compiled_envs()
            self._transition_fn = torch.compile(self.transition, dynamic=False, options=_COMPILE_OPTIONS)

    # ------------------------------------------------------------------ properties
    @property
    def num_diverged(self) -> Tensor:
        """Drones that diverged (non-finite state, faster than max_speed or spinning faster
        than max_rate) since construction; each terminated its own episode."""
        return self._counters[0]

    @property
    def num_out_of_bounds(self) -> Tensor:
        """Drones that left the arena box (the ground included) since construction."""
        return self._counters[1]

    @property
    def state(self) -> Tensor:
        """Current env state ``(N, state_dim)`` (quadrotor state (17), step count, task state)."""
        self._require_reset()
        return self._state

    @property
    def obs(self) -> Tensor:
        """Current observation tensor ``(N, obs_dim)`` (keeps the graph)."""
        self._require_reset()
        return self._obs

    @property
    def state_layout(self) -> dict[str, slice]:
        """Column slices of :attr:`state` by name."""
        layout = {"pos": slice(0, 3), "quat": slice(3, 7), "vel": slice(7, 10), "omega": slice(10, 13),
                  "thrust": slice(13, 17), "step": slice(17, 18)}
        for i, name in enumerate(self.task.task_state_names):
            layout[name] = slice(18 + i, 19 + i)
        return layout

    @property
    def reward_terms(self):
        """The task's :class:`~diffenvs.tasks.RewardTerm` tuple (name, differentiable, description);
        terms in ``detach_reward_terms`` are marked non-differentiable."""
        return tuple(dataclasses.replace(t, differentiable=False) if t.name in self.detach_reward_terms else t
                     for t in self.task.reward_terms)

    def _require_reset(self):
        if self._state is None:
            raise RuntimeError("call reset() before stepping or reading the state")

    # ---------------------------------------------------------------------- reset
    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        """Reset all envs (or only ``options["reset_mask"]``); returns numpy ``(obs, info)``.

        Options:
            reset_mask: ``(N,)`` bool array/tensor; only these rows restart, the others
                continue unchanged.
            state: ``(N, state_dim)`` tensor of env states to start from instead of fresh
                samples (e.g. states collected with :meth:`get_state`).
        """
        self._reset_tensor(seed=seed, options=options)
        return self._to_numpy_obs(self._obs), {}

    def _reset_tensor(self, *, seed=None, options=None) -> Tensor:
        if isinstance(seed, (list, tuple)):
            seed = seed[0] if len(seed) else None
        if seed is not None:
            super().reset(seed=seed)
        if seed is not None or not self._seeded:
            self._gen.manual_seed(int(self.np_random.integers(0, 2**62)))
            self._seeded = True
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        given = options.pop("state", None)
        if options:
            raise ValueError(f"unknown reset option(s) {sorted(options)}; valid: ['reset_mask', 'state']")
        if given is not None:
            new = check_state_tensor(given, self)
        else:
            new = self._sample_states(self.num_envs)
        if mask is not None:
            mask = torch.as_tensor(mask, device=self.device, dtype=torch.bool).reshape(-1)
            if mask.shape != (self.num_envs,):
                raise ValueError(f"reset_mask must have shape ({self.num_envs},), got {tuple(mask.shape)}")
            if self._state is None:
                raise RuntimeError("reset_mask needs a previous full reset()")
            new = torch.where(mask[:, None], new, self._state)
            self._episode_return = self._episode_return.masked_fill(mask, 0.0)
        else:
            self._episode_return = torch.zeros_like(self._episode_return)
        self._state = new
        self._obs = self._observe(new)
        if seed is not None:
            self._pool_next = self._pool_batches  # resample the pool from the new seed
        if self.render_mode is not None:
            self._get_renderer().reset(self, mask)
        return self._obs

    def set_state(self, state: Tensor, mask: Tensor | None = None) -> Tensor:
        """Put envs into given states (all rows, or the rows in ``mask``); returns the new obs.

        This is how episodes start from previously visited states (ABPT's state replay).
        Rows set this way start a new episode for the bookkeeping of returns.
        """
        self._require_reset()
        return self._reset_tensor(options={"state": state, "reset_mask": mask})

    def get_state(self) -> Tensor:
        """Current env states ``(N, state_dim)`` (with graph; ``.detach()`` to store them)."""
        return self.state

    def sample_initial_states(self, n: int | None = None) -> Tensor:
        """Fresh episode-start states from the task's distribution, using the env's RNG."""
        self._require_reset()
        return self._sample_states(self.num_envs if n is None else n)

    def _sample_states(self, n: int) -> Tensor:
        x, task = self.task.sample_initial(n, self._gen)
        step = x.new_zeros(n, 1)
        return torch.cat([x, step, task], dim=-1)

    def _fresh_from_pool(self) -> tuple[Tensor, Tensor]:
        if self._pool_next >= self._pool_batches:
            k, n = self._pool_batches, self.num_envs
            self._pool_rng = self._gen.get_state()
            states = self._sample_states(k * n)
            self._pool_obs = self._observe(states).view(k, n, -1)
            self._pool_states = states.view(k, n, -1)
            self._pool_next = 0
        i = self._pool_next
        self._pool_next += 1
        return self._pool_states[i], self._pool_obs[i]

    def get_runtime_state(self) -> dict[str, Any]:
        """Everything besides :meth:`get_state` needed to continue a run identically.

        The RNG state, the position in the pool of pre-sampled episode starts, the
        episode-return bookkeeping and the failure counters (tensors and ints only, so it
        can go into a ``weights_only`` checkpoint).
        """
        return {
            "generator": self._gen.get_state(),
            "pool_generator": self._pool_rng if self._pool_rng is not None else torch.empty(0, dtype=torch.uint8),
            "pool_next": self._pool_next,
            "episode_return": self._episode_return.detach().clone(),
            "counters": self._counters.clone(),
        }

    def set_runtime_state(self, runtime: dict[str, Any]) -> None:
        """Restore what :meth:`get_runtime_state` returned (call after ``set_state``)."""
        self._require_reset()
        pool_rng = runtime["pool_generator"]
        if pool_rng.numel() and runtime["pool_next"] < self._pool_batches:
            self._gen.set_state(pool_rng)
            self._pool_next = self._pool_batches
            self._fresh_from_pool()  # resample the same pool
            self._pool_next = int(runtime["pool_next"])
        else:
            self._pool_next = self._pool_batches
        self._gen.set_state(runtime["generator"])
        self._episode_return = runtime["episode_return"].to(device=self.device, dtype=self.dtype)
        self._counters = runtime["counters"].to(self.device)
        self._seeded = True

    def _observe(self, state: Tensor) -> Tensor:
        return self.task.observe(state[:, :STATE_DIM], state[:, STATE_DIM + 1:], state[:, _STEP_COL])

    # ----------------------------------------------------------------------- step
    def detach(self) -> None:
        """Cut the autograd graph: the current state and observation become leaves."""
        self._require_reset()
        self._state = self._state.detach()
        self._obs = self._obs.detach()

    def step_differentiable(self, actions: Tensor):
        """Step with a ``(N, 4)`` action tensor, keeping the autograd graph.

        Returns ``(obs, reward, terminated, truncated, info)`` as tensors on the env's
        device. ``obs`` and ``reward`` carry gradients back to every action since the
        last :meth:`detach`; ``info["final_obs"]`` is the pre-reset observation of every
        row (with gradient), valid where ``info["_final_obs"]``.
        """
        self._require_reset()
        if self.check_inputs:
            check_action_tensor(actions, self)
        return self._step(actions)

    def step(self, actions):
        """Gymnasium step: numpy ``(N, 4)`` actions in, numpy out, no graph."""
        self._require_reset()
        a = to_action_tensor(actions, self)
        with torch.no_grad():
            obs, reward, terminated, truncated, info = self._step(a)
        return (
            self._to_numpy_obs(obs),
            reward.to(torch.float32).cpu().numpy().copy(),
            terminated.cpu().numpy().copy(),
            truncated.cpu().numpy().copy(),
            _info_to_numpy(info),
        )

    def _step(self, actions: Tensor):
        """The stateful shell: feed the pure transition, store its result, keep counters."""
        fresh, fresh_obs = self._fresh_from_pool() if self.autoreset else (None, None)
        out = self._transition_fn(self._state, actions, self._episode_return, fresh, fresh_obs, self._counters)
        if self.check_inputs:
            check_finite_flag(out[-1], actions)  # before anything is committed
        (self._state, self._obs, reward, terminated, truncated, info, self._episode_return, next_state,
         self._counters, _) = out
        if self._renderer is not None:
            self._renderer.record(self, next_state)
        return self._obs, reward, terminated, truncated, info

    def transition(self, state: Tensor, actions: Tensor, episode_return: Tensor, fresh: Tensor | None = None,
                   fresh_obs: Tensor | None = None, counters: Tensor | None = None):
        """One env step as a pure function of tensors (no side effects on the env).

        Args:
            state: ``(N, state_dim)`` env states.
            actions: ``(N, 4)`` normalised rotor commands (clipped to [-1, 1] with a
                straight-through gradient).
            episode_return: ``(N,)`` running undiscounted returns (bookkeeping, no graph).
            fresh, fresh_obs: episode starts and their observations used for rows that
                finish (autoreset); ``None`` disables autoreset.
            counters: ``(2,)`` int64 running counts of diverged and out-of-bounds drones.

        Returns:
            ``(state, obs, reward, terminated, truncated, info, episode_return, pre_reset_state,
            counters, actions_finite)``; ``actions_finite`` is a 0-dim bool tensor.
        """
        actions_finite = torch.isfinite(actions).all()
        x = state[:, :STATE_DIM]
        task_state = state[:, STATE_DIM + 1:]
        step = state[:, _STEP_COL].detach() + 1.0  # a counter: no gradient

        f_cmd = action_to_thrust(straight_through_clamp(actions, -1.0, 1.0), self.params)
        x_next = integrate(x, f_cmd, self.params, self.dt, self.integrator, self.motor_lag)
        x_next = scale_grad(x_next, self.grad_decay)

        # Generic failure checks (no gradient needed): left the arena, or diverged
        # (non-finite, too fast or spinning too fast; written to be NaN-safe).
        xd = x_next.detach()
        out_of_bounds = ((xd[:, POS] - self._arena_center).abs() > self._arena_half).any(-1)
        speed_rate_sq = xd[:, 7:13].square().view(-1, 2, 3).sum(-1)
        diverged = ~(speed_rate_sq <= self._limits_sq).all(-1)
        out_of_bounds = out_of_bounds & ~diverged
        failed = out_of_bounds | diverged

        result = self.task.evaluate(x_next, task_state, step, failed)
        for name in self.detach_reward_terms:
            result.terms[name] = result.terms[name].detach()
        reward = torch.stack(list(result.terms.values()), 0).sum(0)
        reward = reward.masked_fill(diverged, 0.0)
        terminated = failed | result.terminated
        if self.max_episode_steps:
            truncated = (step >= self.max_episode_steps) & ~terminated
        else:
            truncated = torch.zeros_like(terminated)
        next_state = torch.cat([x_next, step.unsqueeze(-1), result.task_state], dim=-1)
        next_obs = self._observe(next_state)

        episode_return = episode_return + reward.detach()
        info: dict[str, Any] = dict(result.metrics)
        info["reward_terms"] = result.terms
        info["diverged"] = diverged
        info["out_of_bounds"] = out_of_bounds
        if counters is not None:
            counters = counters + torch.stack([diverged.sum(), out_of_bounds.sum()])
        if fresh is None:
            info["episode_return"] = episode_return
            return (next_state, next_obs, reward, terminated, truncated, info, episode_return, next_state, counters,
                    actions_finite)

        done = terminated | truncated
        done_col = done.unsqueeze(-1)
        new_state = torch.where(done_col, fresh, next_state)
        new_obs = torch.where(done_col, fresh_obs, next_obs)
        final_info = dict(result.metrics)
        final_info["episode_return"] = episode_return
        final_info["episode_length"] = step
        info["final_obs"] = next_obs
        info["_final_obs"] = done
        info["final_info"] = final_info
        info["_final_info"] = done
        return (new_state, new_obs, reward, terminated, truncated, info, episode_return.masked_fill(done, 0.0),
                next_state, counters, actions_finite)

    # --------------------------------------------------------------------- render
    def render(self):
        """An RGB image (``H x W x 3`` uint8) of up to 16 drones, targets/gates and trails."""
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode; construct the env with render_mode='rgb_array'")
            return None
        self._require_reset()
        return self._get_renderer().draw(self)

    def _get_renderer(self):
        if self._renderer is None:
            from .render import Renderer

            self._renderer = Renderer()
        return self._renderer

    def close_extras(self, **kwargs):
        self._renderer = None

    # -------------------------------------------------------------------- helpers
    def _to_numpy_obs(self, obs: Tensor) -> np.ndarray:
        return obs.detach().to(torch.float32).cpu().numpy().copy()

    def __repr__(self) -> str:
        return (f"DiffQuadVectorEnv(task={self.task.name!r}, num_envs={self.num_envs}, device={self.device}, "
                f"dtype={self.dtype}, vehicle={self.vehicle.name!r}, integrator={self.integrator!r})")


def _info_to_numpy(info):
    if isinstance(info, dict):
        return {k: _info_to_numpy(v) for k, v in info.items()}
    if isinstance(info, Tensor):
        return info.detach().cpu().numpy().copy()
    return info
