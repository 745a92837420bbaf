"""The generic, natively batched, differentiable Gymnasium ``VectorEnv`` shell.

:class:`DiffVectorEnv` runs any registered robot with any of its tasks (see
:mod:`diffenvs.contract`); it holds no robot names or constants. The step is a pure
function of tensors (:meth:`DiffVectorEnv.transition`) under a thin stateful shell.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space
from torch import Tensor

from . import registry
from .contract import REWARD_PREFIX, STEP_FIELD, Robot, State, StateField, Task, state_where
from .errors import check_action_tensor, check_finite_flag, check_reset_mask, check_seed, check_state, to_action_tensor
from .grad import finite_rows_grad, scale_grad, straight_through_clamp
from .render import Renderer

# The C++ wrapper removes most of inductor's per-call Python overhead, which dominates
# for small batches on CPU.
_COMPILE_OPTIONS = {"cpp_wrapper": True}

Obs = Tensor | dict[str, Tensor]


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


def _compile_backend(compile: bool | str) -> str | None:
    """The ``torch.compile`` backend ``compile`` asks for (``None``: no compilation)."""
    if isinstance(compile, str):
        import torch._dynamo

        known = torch._dynamo.list_backends(exclude_tags=())
        if compile not in known:
            raise ValueError(f"compile={compile!r} is not a torch.compile backend; pass True (inductor), False, "
                             f"or one of {known}")
        return compile
    if not isinstance(compile, (bool, int)):
        raise TypeError(f"compile must be a bool or a torch.compile backend name, got {type(compile).__name__}")
    return "inductor" if compile else None


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


def obs_map(fn: Callable[..., Tensor], obs: Obs, *others: Obs) -> Obs:
    """Apply ``fn`` to an observation (a tensor, or each entry of a dict of tensors)."""
    if isinstance(obs, dict):
        return {k: fn(v, *(o[k] for o in others)) for k, v in obs.items()}
    return fn(obs, *others)


class _RobotDefaultDt:
    """The default of ``dt``: the robot's ``default_dt`` (``None`` is not accepted)."""

    def __repr__(self) -> str:
        return "the robot's default_dt"


ROBOT_DEFAULT_DT = _RobotDefaultDt()


def _check_num_envs(num_envs) -> int:
    if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
    return int(num_envs)


def _current(name: str) -> property:
    """The env's current ``name`` (its state, observation, running returns or failure counters).

    A native Gymnasium step may keep these in output buffers it writes again two steps later (see
    :meth:`DiffVectorEnv.step`); reading one through this property hands those buffers over for good
    (the native step makes new ones), so nothing read from the env ever changes under its reader.
    """
    raw = "_raw" + name

    def get(self):
        if self._lent is not None:
            self._lent.release()
            self._lent = None
        return self.__dict__[raw]

    def put(self, value) -> None:
        self.__dict__[raw] = value

    return property(get, put)


class DiffVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` copies of one robot and task simulated together in PyTorch, differentiable end to end.

    Registered ids build it through ``gymnasium.make_vec(id, num_envs=N, **kwargs)``.

    Args:
        num_envs: number of envs simulated in one batch.
        robot: robot name (``"quadrotor"``, ``"pointmass"``, ...) or a
            :class:`~diffenvs.contract.Robot` subclass.
        task: task name of that robot, or a :class:`~diffenvs.contract.Task` subclass.
        task_options: task options (see each task's ``Config``); unknown names raise.
        robot_options: robot options (see the robot's ``Config``); any other keyword
            argument is taken as a robot option too (e.g. ``vehicle="drone730"``).
        device: torch device of all tensors (``"cpu"`` or ``"cuda"``).
        dtype: ``torch.float32`` (default) or ``torch.float64`` (gradient checks).
        dt: control step, s (default: the robot's ``default_dt``; ``None``, inf, non-positive
            values and non-numbers are rejected with an error naming ``dt``).
        max_episode_steps: episode length; ``None`` uses the task's default; ``0``
            disables truncation.
        grad_decay: factor multiplying the gradient flowing back through the robot state
            at every step (1 = exact gradients).
        autoreset: reset finished episodes in the same step (Gymnasium ``SAME_STEP``).
        check_inputs: validate actions (shape, dtype, device, finiteness) on every step.
        detach_reward_terms: names of reward terms whose value is kept but whose gradient
            is cut, to study partially differentiable rewards (ABPT paper Figure 5).
        compile: run the step's pure transition function through ``torch.compile``
            (faster after a one-off compilation of tens of seconds to minutes; see docs/benchmarks).
            ``True`` uses inductor (with its C++ wrapper); a string names another
            ``torch.compile`` backend (``"aot_eager"``: traced in seconds, for checks;
            ``"cudagraphs"``; see ``torch._dynamo.list_backends()``).
        native: step with the task's fused native transition where it offers one for this
            configuration (:meth:`Task.native_transition <diffenvs.contract.Task.native_transition>`;
            the same results to float rounding); ``False``: always :meth:`transition`.
        render_mode: ``None`` or ``"rgb_array"``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50, "autoreset_mode": AutoresetMode.SAME_STEP}

    _state = _current("_state")
    _obs = _current("_obs")
    _episode_return = _current("_episode_return")
    _counters = _current("_counters")
    #: The native step whose reusable buffers hold the current tensors, if any (see :func:`_current`).
    _lent = None

    def __init__(
        self,
        num_envs: int,
        robot: str | type[Robot],
        task: str | type[Task],
        task_options: Mapping[str, Any] | None = None,
        robot_options: Mapping[str, Any] | None = None,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype | str = torch.float32,
        dt: float = ROBOT_DEFAULT_DT,
        max_episode_steps: int | None = None,
        grad_decay: float = 1.0,
        autoreset: bool = True,
        check_inputs: bool = True,
        compile: bool | str = False,
        native: bool = True,
        detach_reward_terms: tuple[str, ...] | list[str] = (),
        render_mode: str | None = None,
        **robot_kwargs: Any,
    ):
        num_envs = _check_num_envs(num_envs)
        robot_cls = registry.robot_class(robot)
        task_cls = registry.task_class(robot_cls, task)
        if dt is ROBOT_DEFAULT_DT:
            dt = robot_cls.default_dt
        if isinstance(dt, bool) or not isinstance(dt, int | float | np.floating | np.integer) or not 0 < dt < np.inf:
            raise ValueError(f"dt must be a positive finite number of seconds, got {dt!r}")
        if not 0.0 < grad_decay <= 1.0:
            raise ValueError(f"grad_decay must be in (0, 1], got {grad_decay}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"unsupported render_mode {render_mode!r}; use None or 'rgb_array'")
        if robot_options is not None and not isinstance(robot_options, Mapping):
            raise TypeError(f"robot_options must be a dict, got {type(robot_options).__name__}")
        self.num_envs = num_envs
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        self.dt = float(dt)
        self.grad_decay = float(grad_decay)
        self.autoreset = bool(autoreset)
        self.check_inputs = bool(check_inputs)
        self.render_mode = render_mode
        kw = dict(dt=self.dt, dtype=self.dtype, device=self.device)
        self.robot: Robot = robot_cls({**(robot_options or {}), **robot_kwargs}, **kw)
        self.task: Task = task_cls(task_options, robot=self.robot, **kw)
        if max_episode_steps is None:
            max_episode_steps = self.task.default_episode_steps
        if isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, int | np.integer) \
                or max_episode_steps < 0:
            raise ValueError(f"max_episode_steps must be a non-negative int or None, got {max_episode_steps!r}")
        self.max_episode_steps = int(max_episode_steps)
        unknown = sorted(set(detach_reward_terms) - set(self.task.reward_term_names))
        if unknown:
            raise ValueError(f"unknown reward term(s) {unknown} in detach_reward_terms; the {self.task.name} task has "
                             f"{list(self.task.reward_term_names)}")
        self.detach_reward_terms = tuple(detach_reward_terms)

        self._robot_fields = tuple(self.robot.state_fields)
        self._task_fields = tuple(self.task.state_fields)
        names = [*self._robot_fields, "step", *self._task_fields]
        clash = sorted({n for n in names if names.count(n) > 1})
        if clash:
            raise ValueError(f"state field name(s) {clash} used twice (robot {self.robot.name!r}, task "
                             f"{self.task.name!r}, or the shell's 'step'); rename the task's fields")
        self._float_robot_fields = tuple(k for k, f in self.robot.state_fields.items() if f.dtype == "float")

        self.single_observation_space = self.task.observation_space
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, (self.robot.action_dim,), np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)

        self._gen = torch.Generator(device=self.device)
        self._seeded = False
        # Pool of pre-sampled episode starts (and their observations) for autoreset:
        # sampling K batches at once costs about as much as sampling one (up to 256 batches
        # or 65536 rows: at one env a pool of 16 made the draw half of a rollout's time), and each
        # sample is used at most once, in a fixed order, so runs stay deterministic.
        self._pool_batches = max(1, min(256, 65536 // num_envs))
        self._pool: list[tuple[State, Obs] | None] = []
        self._pool_next = self._pool_batches
        self._pool_stack: tuple[State, Obs | None] | None = None
        self._pool_rng: Tensor | None = None  # generator state the pool was sampled from
        self._episode_return = torch.zeros(num_envs, dtype=self.dtype, device=self.device)
        # Running counts of diverged and out-of-bounds envs (see the properties).
        self._counters = torch.zeros(2, dtype=torch.int64, device=self.device)
        self._state: State | None = None
        self._obs: Obs | None = None
        self._renderer: Renderer | None = None
        backend = _compile_backend(compile)
        self.compiled = backend is not None
        self._skip_idle_resets = self.device.type == "cpu" and not self.compiled
        # A task's fused transition (one native call per step), where it offers one for this env.
        self._native = self.task.native_transition(self) if native and not self.compiled else None
        self._transition_fn = self._native or self.transition
        self._native_observes_starts = bool(getattr(self._native, "observes_starts", False))
        self._numpy_step = getattr(self._native, "numpy_step", None)
        self._rollout_fn = self._rollout_steps
        if self.compiled:
            _allow_compiled_envs()
            options = _COMPILE_OPTIONS if backend == "inductor" else None
            self._transition_fn = torch.compile(self.transition, backend=backend, dynamic=False, options=options)
            self._rollout_fn = torch.compile(self._rollout_steps, backend=backend, dynamic=False, options=options)

    # ------------------------------------------------------------------ properties
    @property
    def autoreset_mode(self) -> AutoresetMode:
        """Gymnasium's autoreset mode: ``SAME_STEP``, or ``DISABLED`` when built with ``autoreset=False``."""
        return AutoresetMode.SAME_STEP if self.autoreset else AutoresetMode.DISABLED

    @property
    def action_dim(self) -> int:
        return self.robot.action_dim

    @property
    def native_step(self) -> bool:
        """Whether steps run the task's fused native transition (:meth:`Task.native_transition
        <diffenvs.contract.Task.native_transition>`) instead of :meth:`transition`."""
        return self._native is not None

    @property
    def differentiable(self) -> bool:
        """Whether gradients flow through the robot's step."""
        return self.robot.differentiable

    @property
    def num_diverged(self) -> Tensor:
        """Envs that diverged (non-finite state or beyond the task's limits) since
        construction; each terminated its own episode."""
        return self._counters[0]

    @property
    def num_out_of_bounds(self) -> Tensor:
        """Envs that left the task's arena since construction."""
        return self._counters[1]

    @property
    def state_spec(self) -> dict[str, StateField]:
        """The state's fields by name: the robot's, ``step``, then the task's."""
        return {**self.robot.state_fields, "step": STEP_FIELD, **self.task.state_fields}

    @property
    def state(self) -> State:
        """Current env state, a dict of ``(N, *shape)`` tensors (see :attr:`state_spec`)."""
        self._require_reset()
        return self._state

    @property
    def obs(self) -> Obs:
        """Current observation (a tensor ``(N, obs_dim)``, or a dict of them; keeps the graph)."""
        self._require_reset()
        return self._obs

    @property
    def reward_terms(self):
        """The task's :class:`~diffenvs.contract.RewardTerm` tuple (name, differentiable, description);
        terms in ``detach_reward_terms`` are marked non-differentiable."""
        return tuple(dataclasses.replace(t, differentiable=False) if t.name in self.detach_reward_terms else t
                     for t in self.task.reward_terms)

    def _peek(self) -> tuple[State, Tensor, Tensor]:
        """The current state, running returns and counters, for a native step that only reads them
        (not handed over, see :func:`_current`)."""
        raw = self.__dict__
        return raw["_raw_state"], raw["_raw_episode_return"], raw["_raw_counters"]

    def _lend(self, owner, state: State, obs: Obs, episode_return: Tensor, counters: Tensor) -> None:
        """Make the current tensors buffers that ``owner`` reuses until they are read (:func:`_current`)."""
        raw = self.__dict__
        raw["_raw_state"], raw["_raw_obs"], raw["_raw_episode_return"], raw["_raw_counters"] = \
            state, obs, episode_return, counters
        self._lent = owner

    def _require_reset(self):
        if self._raw_state is None:
            raise RuntimeError("call reset() before stepping or reading the state")

    # ---------------------------------------------------------------------- reset
    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        """Reset all envs (or only ``options["reset_mask"]``); returns numpy ``(obs, info)``.

        Options:
            reset_mask: ``(N,)`` bool array/tensor; only these rows restart, the others
                continue unchanged.
            state: a state dict (as :meth:`get_state` returns) to start from instead of
                fresh samples (e.g. states collected during training).
        """
        self._reset_tensor(seed=seed, options=options)
        return self._to_numpy_obs(self._obs), {}

    def _reset_tensor(self, *, seed=None, options=None) -> Obs:
        # Everything is checked before anything (the RNG included) changes.
        seed = check_seed(seed)
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(f"reset options must be a dict (e.g. {{'reset_mask': mask}}), got {type(options).__name__}")
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        given = options.pop("state", None)
        if options:
            raise ValueError(f"unknown reset option(s) {sorted(options)}; valid: ['reset_mask', 'state']")
        if mask is not None:
            mask = check_reset_mask(mask, self)
            if self._state is None:
                raise RuntimeError("reset_mask needs a previous full reset()")
        checked = check_state(given, self, mask) if given is not None else None
        if seed is not None:
            super().reset(seed=seed)
        if seed is not None or not self._seeded:
            self._gen.manual_seed(int(self.np_random.integers(0, 2**62)))
            self._seeded = True
        new = checked if checked is not None else self._sample_states(self.num_envs)
        if mask is not None:
            new = state_where(mask, new, self._state)
            self._episode_return = self._episode_return.masked_fill(mask, 0.0)
        else:
            self._episode_return = torch.zeros_like(self._episode_return)
        obs = self.task.observe(new)
        if mask is not None:  # the rows not reset keep their observation (as a native step computed it)
            views = {}
            obs = obs_map(lambda f, o: torch.where(_row_mask(mask, o, views), f, o), obs, self._obs)
        self._state = new
        self._obs = obs
        if seed is not None:
            self._pool_next = self._pool_batches  # resample the pool from the new seed
        if self.render_mode is not None:
            self._get_renderer().reset(self, mask)
        return self._obs

    def set_state(self, state: State, mask: Tensor | None = None) -> Obs:
        """Put envs into given states (all rows, or the rows in ``mask``); returns the new obs.

        This is how episodes start from previously visited states (ABPT's state replay).
        Rows set this way start a new episode for the bookkeeping of returns.
        """
        self._require_reset()
        return self._reset_tensor(options={"state": state, "reset_mask": mask})

    def get_state(self) -> State:
        """Current env states (with graph; detach the fields to store them)."""
        return self.state

    def sample_initial_states(self, n: int | None = None) -> State:
        """Fresh episode-start states from the task's distribution, using the env's RNG."""
        self._require_reset()
        return self._sample_states(self.num_envs if n is None else n)

    def _sample_states(self, n: int) -> State:
        s = self.task.sample_initial(n, self._gen)
        # Contiguous fields (a task may hand out views, e.g. columns of one random draw), as
        # a step returns them: equal strides spare a compiled step a second graph.
        out = {k: s[k].contiguous() for k in self._robot_fields}
        out["step"] = torch.zeros(n, dtype=torch.int64, device=self.device)
        out.update((k, s[k].contiguous()) for k in self._task_fields)
        return out

    def _refill_pool(self) -> None:
        k, n = self._pool_batches, self.num_envs
        self._pool_rng = self._gen.get_state()
        states = self._sample_states(k * n)
        # The pool as (k, n, ...) views of one draw (what rollout() slices) and as one
        # (state, obs) pair per batch, split once here rather than at every step.
        stacked = {name: v.view(k, n, *v.shape[1:]) for name, v in states.items()}
        if self.task.costly_observation or self._native_observes_starts:  # observed in the step, only where used
            stacked_obs = None
        else:
            stacked_obs = obs_map(lambda v: v.view(k, n, *v.shape[1:]), self.task.observe(states))
        # The per-step (state, obs) views are made when a step first asks for them: rollout()
        # takes the stacked views and never needs them.
        self._pool = [None] * k
        self._pool_stack = (stacked, stacked_obs)
        self._pool_next = 0

    def _next_start(self) -> int:
        """Take the pool's next batch of episode starts (refilling it when used up); returns its index
        in :attr:`_pool_stack`. :meth:`_unuse_start` gives it back."""
        if self._pool_next >= self._pool_batches:
            self._refill_pool()
        i = self._pool_next
        self._pool_next += 1
        return i

    def _unuse_start(self, pool_next: int) -> None:
        """Put the pool back where it was before a step that raised (``pool_next``: its position then)."""
        if pool_next >= self._pool_batches and self._pool_rng is not None:
            self._gen.set_state(self._pool_rng)  # the pool was resampled for this call
        self._pool_next = pool_next

    def _fresh_from_pool(self) -> tuple[State, Obs]:
        i = self._next_start()
        entry = self._pool[i]
        if entry is None:
            stacked, stacked_obs = self._pool_stack
            entry = self._pool[i] = ({name: v[i] for name, v in stacked.items()},
                                     None if stacked_obs is None else obs_map(lambda v: v[i], stacked_obs))
        return entry

    def _fresh_stack(self, steps: int) -> tuple[State, Obs | None]:
        """The next ``steps`` episode starts of the pool, stacked ``(steps, N, ...)`` (views when
        they lie in one pool draw): exactly the starts ``steps`` calls of :meth:`step` would use."""
        pieces = []
        while steps:
            if self._pool_next >= self._pool_batches:
                self._refill_pool()
            i = self._pool_next
            j = min(self._pool_batches, i + steps)
            stacked, stacked_obs = self._pool_stack
            pieces.append(({k: v[i:j] for k, v in stacked.items()},
                           None if stacked_obs is None else obs_map(lambda v, s=slice(i, j): v[s], stacked_obs)))
            steps -= j - i
            self._pool_next = j
        if len(pieces) == 1:
            return pieces[0]
        fresh = {k: torch.cat([p[0][k] for p in pieces]) for k in pieces[0][0]}
        obs = pieces[0][1]
        if obs is not None:
            obs = obs_map(lambda *vs: torch.cat(vs), *[p[1] for p in pieces])
        return fresh, obs

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
            self._refill_pool()  # resample the same pool
            self._pool_next = int(runtime["pool_next"])
        else:
            self._pool_next = self._pool_batches
        self._gen.set_state(runtime["generator"])
        self._episode_return = runtime["episode_return"].to(device=self.device, dtype=self.dtype)
        self._counters = runtime["counters"].to(self.device)
        self._seeded = True

    # ----------------------------------------------------------------------- step
    def detach(self) -> None:
        """Cut the autograd graph: the current state and observation become leaves."""
        self._require_reset()
        self._state = {k: v.detach() for k, v in self._state.items()}
        self._obs = obs_map(Tensor.detach, self._obs)

    def step_differentiable(self, actions: Tensor):
        """Step with a ``(N, action_dim)`` action tensor, keeping the autograd graph.

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
        """Gymnasium step: numpy ``(N, action_dim)`` actions in, numpy out, no graph.

        Where the native transition offers a Gymnasium step of its own (``numpy_step``: the
        quadrotor's tasks), that runs it: the same kernel and results, writing into output
        buffers it keeps and reuses instead of making and viewing new tensors at every call.
        """
        self._require_reset()
        if self._numpy_step is not None and self._renderer is None:
            out = self._numpy_step(actions)
            if out is not None:
                return out
        a = to_action_tensor(actions, self)
        with torch.no_grad():
            obs, reward, terminated, truncated, info = self._step(a)
        return (
            self._to_numpy_obs(obs),
            reward.to(torch.float32).cpu().numpy().copy(),
            terminated.cpu().numpy().copy(),
            truncated.cpu().numpy().copy(),
            info_to_numpy(info),
        )

    def rollout(self, actions: Tensor | None = None, *, policy: Callable[[Obs], Any] | None = None,
                steps: int | None = None, return_states: bool = False):
        """Several steps in one call, keeping the autograd graph: open loop or under a policy.

        ``rollout(actions)`` takes a ``(steps, N, action_dim)`` tensor; ``rollout(policy=fn,
        steps=K)`` chooses each step's actions as ``fn(obs)`` from the observation before it.
        The result equals ``steps`` calls of :meth:`step_differentiable` (autoresets with the
        same episode starts, the same random stream, the same gradients), stacked: ``(obs,
        reward, terminated, truncated, info)`` with a leading ``steps`` dimension on every
        tensor, and ``info["actions"]`` the actions applied (before clipping). A policy may
        return ``(actions, extras)``: ``extras`` (a tensor or a dict of tensors, e.g. the
        observation it saw and its log-probabilities) come back stacked as
        ``info["policy"]``. ``return_states=True`` adds ``info["states"]``, the env state
        before each step (the fields of :attr:`state_spec`, stacked, with their graph).

        With ``compile=True`` the steps run as one compiled graph in chunks of
        :attr:`rollout_chunk` steps, forward and backward, which removes the per-step Python
        and dispatch overhead that bounds small batches (see docs/benchmarks); the chunk is
        compiled once per env and policy (and cached on disk by PyTorch across processes).
        Non-finite actions raise before anything is committed, as in a single step. While
        rendering, the steps run one by one so that every frame is recorded.
        """
        self._require_reset()
        steps = self._rollout_args(actions, policy, steps)
        if self._renderer is not None:
            return self._rollout_stepwise(actions, policy, steps, return_states)
        saved = self._snapshot()
        outs = []
        chunk = self.rollout_chunk if self.compiled else steps
        # Open-loop actions with a native transition that unrolls: the steps in native calls of
        # as many steps as it takes at once (its buffers for a call stay small enough to reuse).
        native_steps = getattr(self._native, "rollout", None) if policy is None and not return_states else None
        if native_steps is not None:
            chunk = min(steps, self._native.rollout_steps)
        done = 0
        while done < steps:
            k = min(chunk, steps - done)
            if self.compiled and k != chunk:
                k = 1  # the remainder one step at a time: two compiled graphs in all, whatever `steps`
            fresh, fresh_obs = self._fresh_stack(k) if self.autoreset else (None, None)
            acts = None if actions is None else actions[done:done + k]
            if native_steps is not None:
                out = native_steps(self._state, self._obs, acts, self._episode_return, fresh, fresh_obs, self._counters)
            else:
                out = self._rollout_fn(self._state, self._obs, acts, policy, k, self._episode_return, fresh,
                                       fresh_obs, self._counters, return_states)
            self._state, self._obs, self._episode_return, self._counters = out[0], out[1], out[3], out[4]
            outs.append(out)
            done += k
        finite = outs[0][5] if len(outs) == 1 else torch.stack([o[5] for o in outs]).all()
        info = outs[0][2] if len(outs) == 1 else _tree_cat([o[2] for o in outs])
        if self.check_inputs:
            try:
                check_finite_flag(finite, info["actions"])  # before anything is committed
            except ValueError:  # as if this call never happened
                self._restore(saved)
                raise
        return info.pop("obs"), info.pop("reward"), info.pop("terminated"), info.pop("truncated"), info

    def _rollout_args(self, actions: Tensor | None, policy, steps) -> int:
        """Validate :meth:`rollout`'s arguments; returns the number of steps."""
        if policy is None:
            if actions is None:
                raise TypeError("rollout() needs actions of shape (steps, num_envs, action_dim), or policy= and steps=")
            if self.check_inputs:
                check_action_tensor(actions, self, stacked=True)
            if steps is not None and steps != actions.shape[0]:
                raise ValueError(f"steps={steps} but actions hold {actions.shape[0]} steps; leave steps out")
            steps = actions.shape[0]
        else:
            if actions is not None:
                raise TypeError("pass rollout() either actions or policy=, not both")
            if not callable(policy):
                raise TypeError(f"policy must be a callable obs -> actions, got {type(policy).__name__}")
            if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
                raise ValueError(f"rollout(policy=...) needs steps, a positive int, got {steps!r}")
            steps = int(steps)
        return steps

    def _snapshot(self) -> tuple:
        """Everything a step commits (to undo a rollout that fails part-way)."""
        return (self._state, self._obs, self._episode_return, self._counters, self._pool, self._pool_stack,
                self._pool_next, self._pool_rng, self._gen.get_state())

    def _restore(self, snapshot: tuple) -> None:
        (self._state, self._obs, self._episode_return, self._counters, self._pool, self._pool_stack,
         self._pool_next, self._pool_rng, gen) = snapshot
        self._gen.set_state(gen)

    #: Steps per compiled graph of :meth:`rollout` with ``compile=True`` (compile time grows with it).
    rollout_chunk = 8

    def _rollout_steps(self, state: State, obs: Obs, actions: Tensor | None, policy, steps: int,
                       episode_return: Tensor, fresh: State | None, fresh_obs: Obs | None, counters: Tensor,
                       return_states: bool = False):
        """``steps`` transitions as one pure function (what :meth:`rollout` runs, compiled or not)."""
        per_step, finite = [], []
        step = self._native or self.transition
        for k in range(steps):
            before = state
            a, extras = _policy_output(actions[k] if policy is None else policy(obs))
            f = None if fresh is None else {name: v[k] for name, v in fresh.items()}
            fo = None if fresh_obs is None else obs_map(lambda v, k=k: v[k], fresh_obs)
            state, obs, reward, terminated, truncated, info, episode_return, _, counters, ok = step(
                state, a, episode_return, f, fo, counters)
            per_step.append(_step_record(info, obs, reward, terminated, truncated, a, extras,
                                         before if return_states else None))
            finite.append(ok)
        ok = finite[0] if steps == 1 else torch.stack(finite).all()
        return state, obs, _tree_stack(per_step), episode_return, counters, ok

    def _rollout_stepwise(self, actions: Tensor | None, policy, steps: int, return_states: bool = False):
        """:meth:`rollout` one step at a time (while rendering: every frame is recorded)."""
        saved = self._snapshot()
        return rollout_by_steps(self, actions, policy, steps, return_states, undo=lambda: self._restore(saved))

    def _step(self, actions: Tensor):
        """The stateful shell: feed the pure transition, store its result, keep counters."""
        pool_next = self._pool_next
        fresh, fresh_obs = self._fresh_from_pool() if self.autoreset else (None, None)
        out = self._transition_fn(self._state, actions, self._episode_return, fresh, fresh_obs, self._counters)
        if self.check_inputs:
            try:
                check_finite_flag(out[-1], actions)  # before anything is committed
            except ValueError:  # the episode starts were not used: as if this call never happened
                self._unuse_start(pool_next)
                raise
        (self._state, self._obs, reward, terminated, truncated, info, self._episode_return, next_state,
         self._counters, _) = out
        if self._renderer is not None:
            self._renderer.record(self, next_state)
        return self._obs, reward, terminated, truncated, info

    def transition(self, state: State, actions: Tensor, episode_return: Tensor, fresh: State | None = None,
                   fresh_obs: Obs | None = None, counters: Tensor | None = None):
        """One env step as a pure function of tensors (no side effects on the env).

        Args:
            state: the env state (a dict of ``(N, *shape)`` tensors).
            actions: ``(N, action_dim)`` normalised actions (clipped to [-1, 1] with a
                straight-through gradient).
            episode_return: ``(N,)`` running undiscounted returns (bookkeeping, no graph).
            fresh, fresh_obs: episode starts and their observations used for rows that
                finish (autoreset); ``fresh=None`` disables autoreset; ``fresh_obs=None``
                with ``fresh`` given: observe the starts here (only the rows that finish,
                on CPU without compilation).
            counters: ``(2,)`` int64 running counts of diverged and out-of-bounds envs.

        Returns:
            ``(state, obs, reward, terminated, truncated, info, episode_return, pre_reset_state,
            counters, actions_finite)``; ``actions_finite`` is a 0-dim bool tensor.
        """
        actions_finite = torch.isfinite(actions).all()
        # A row whose step blows up passes a zero gradient to its action and state, not NaN.
        names = list(state)
        *values, actions = finite_rows_grad(*state.values(), straight_through_clamp(actions, -1.0, 1.0))
        state = dict(zip(names, values))
        # The robot reads its own fields of the state and returns their next values.
        robot_next = self.robot.step(state, actions)
        if self.grad_decay != 1.0:
            robot_next = {k: scale_grad(v, self.grad_decay) if k in self._float_robot_fields else v
                          for k, v in robot_next.items()}
        step = state["step"] + 1
        s = dict(state)  # robot fields after the step, task fields before it, the new step count
        s.update(robot_next)
        s["step"] = step

        diverged, out_of_bounds = self.task.failure(s)
        result = self.task.evaluate(s, (out_of_bounds | diverged))
        terms = dict(result.terms)
        for name in self.detach_reward_terms:
            terms[name] = terms[name].detach()
        reward = torch.stack(list(terms.values()), 0).sum(0)
        # A row whose reward overflowed (e.g. a distance squared beyond float range) diverged.
        diverged = diverged | ~torch.isfinite(reward.detach())
        if not self._skip_idle_resets or bool(diverged.any()):  # (CPU eager: a free host test skips the masks)
            out_of_bounds = out_of_bounds & ~diverged
            reward = reward.masked_fill(diverged, 0.0)  # a diverged row gets reward 0 (its terms too)
            terms = {k: v.masked_fill(diverged, 0.0) for k, v in terms.items()}
        terminated = out_of_bounds | diverged | result.terminated
        if self.max_episode_steps:
            truncated = (step >= self.max_episode_steps) & ~terminated
        else:
            truncated = torch.zeros_like(terminated)
        next_state = dict(s)
        next_state.update((k, result.task_state[k]) for k in self._task_fields)
        next_obs = self.task.observe(next_state)

        episode_return = episode_return + (reward.detach() if reward.requires_grad else reward)
        metrics = {k: v.detach() if v.requires_grad else v for k, v in result.metrics.items()}
        info: dict[str, Any] = dict(metrics)
        info.update((REWARD_PREFIX + k, v) for k, v in terms.items())
        info["diverged"] = diverged
        info["out_of_bounds"] = out_of_bounds
        if counters is not None:
            counters = counters + torch.stack([diverged, out_of_bounds]).sum(-1)
        if fresh is None:
            info["episode_return"] = episode_return
            return (next_state, next_obs, reward, terminated, truncated, info, episode_return, next_state, counters,
                    actions_finite)

        done = terminated | truncated
        if self._skip_idle_resets and not bool(done.any()):
            # No row finished: nothing to select (on CPU this host-side test costs no device
            # synchronisation; on an accelerator and when compiled the selects always run).
            new_state, new_obs = next_state, next_obs
        else:
            views = {1: done, 2: done.unsqueeze(-1)}  # the mask shaped for 1-D and 2-D fields, made once
            new_state = state_where(done, fresh, next_state, views)
            if fresh_obs is None and self._skip_idle_resets:
                # Observe only the rows that restart and copy them in (a costly observation).
                rows = done.nonzero().squeeze(-1)
                started = self.task.observe({k: v[rows] for k, v in fresh.items()})
                new_obs = obs_map(lambda v, s: v.index_copy(0, rows, s), next_obs, started)
            else:
                if fresh_obs is None:
                    fresh_obs = self.task.observe(fresh)
                new_obs = obs_map(lambda v, f: torch.where(_row_mask(done, v, views), f, v), next_obs, fresh_obs)
        final_info = dict(metrics)
        final_info["episode_return"] = episode_return
        final_info["episode_length"] = step
        info["final_obs"] = next_obs
        info["_final_obs"] = done
        info["final_info"] = final_info
        info["_final_info"] = done
        return (new_state, new_obs, reward, terminated, truncated, info, episode_return.masked_fill(done, 0.0),
                next_state, counters, actions_finite)

    # --------------------------------------------------------------------- render
    def render(self) -> list[np.ndarray] | None:
        """One picture per env, Gymnasium's vector convention: a list of ``num_envs``
        ``H x W x 3`` uint8 arrays (320x240 each, 640x480 for a single env), each showing
        that env alone with the task's markers and its trail.

        This is what ``gymnasium.wrappers.vector.RecordVideo`` (and SB3's ``VecEnv.render``)
        tile into one video frame; :meth:`render_overview` draws up to 16 envs in one
        picture instead. Without ``render_mode="rgb_array"`` it warns and returns ``None``.
        """
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode; construct the env with render_mode='rgb_array'")
            return None
        self._require_reset()
        return self._get_renderer().draw_envs(self)

    def render_overview(self) -> np.ndarray | None:
        """One ``640 x 480 x 3`` uint8 picture of the first (up to 16) envs together, the
        task's markers and their trails (what :func:`diffenvs.render.record_episode` saves)."""
        if self.render_mode is None:
            gym.logger.warn("render_overview() called without render_mode; construct the env with "
                            "render_mode='rgb_array'")
            return None
        self._require_reset()
        return self._get_renderer().draw(self)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Gymnasium's ``VectorEnv.call``: one result per env (a tuple of ``num_envs``).

        ``call("render")`` gives the per-env frames of :meth:`render` (skrl's Gymnasium
        wrapper renders vector envs this way). The envs are rows of one batched env, so
        any other method is called once on it (any attribute read once) and the result is
        repeated for every env.
        """
        if name == "render":
            frames = self.render(*args, **kwargs)
            return (None,) * self.num_envs if frames is None else tuple(frames)
        value = getattr(self, name)
        result = value(*args, **kwargs) if callable(value) else value
        return (result,) * self.num_envs

    def _get_renderer(self) -> Renderer:
        if self._renderer is None:
            self._renderer = Renderer()
        return self._renderer

    def close_extras(self, **kwargs):
        self._renderer = None

    # -------------------------------------------------------------------- helpers
    def _to_numpy_obs(self, obs: Obs):
        if isinstance(obs, dict):
            return {k: v.detach().to(torch.float32).cpu().numpy().copy() for k, v in obs.items()}
        return obs.detach().to(torch.float32).cpu().numpy().copy()

    def __repr__(self) -> str:
        return (f"DiffVectorEnv(robot={self.robot.describe()!r}, task={self.task.name!r}, num_envs={self.num_envs}, "
                f"device={self.device}, dtype={self.dtype})")


def rollout_by_steps(env, actions: Tensor | None, policy, steps: int, return_states: bool,
                     undo: Callable[[], None]):
    """A rollout as ``steps`` calls of ``env.step_differentiable`` (an env or a wrapper), stacked
    as :meth:`DiffVectorEnv.rollout` returns it; a step that raises ``ValueError`` calls
    ``undo`` (which puts back what the earlier steps committed) and is re-raised naming the step."""
    per_step = []
    for k in range(steps):
        before = env.get_state() if return_states else None
        a, extras = _policy_output(actions[k] if policy is None else policy(env.obs))
        try:
            obs, reward, terminated, truncated, info = env.step_differentiable(a)
        except ValueError as err:
            undo()
            raise ValueError(f"rollout step {k}: {err}") from err
        per_step.append(_step_record(info, obs, reward, terminated, truncated, a, extras, before))
    info = _tree_stack(per_step)
    return info.pop("obs"), info.pop("reward"), info.pop("terminated"), info.pop("truncated"), info


def _policy_output(out) -> tuple[Tensor, Any]:
    """A rollout policy's ``actions`` or ``(actions, extras)``."""
    return (out[0], out[1]) if isinstance(out, tuple) else (out, None)


def _step_record(info: dict, obs, reward, terminated, truncated, actions, extras, state_before) -> dict:
    """What a rollout keeps of one step (stacked over the steps afterwards)."""
    record = dict(info, obs=obs, reward=reward, terminated=terminated, truncated=truncated, actions=actions)
    if extras is not None:
        record["policy"] = extras
    if state_before is not None:
        record["states"] = state_before
    return record


def _tree_stack(trees: list) -> Any:
    """Stack a list of equally shaped (nested dicts of) tensors along a new first dimension."""
    if isinstance(trees[0], dict):
        return {k: _tree_stack([t[k] for t in trees]) for k in trees[0]}
    return torch.stack(trees)


def _tree_cat(trees: list) -> Any:
    """Concatenate (nested dicts of) tensors along their first dimension."""
    if isinstance(trees[0], dict):
        return {k: _tree_cat([t[k] for t in trees]) for k in trees[0]}
    return torch.cat(trees)


def _row_mask(mask: Tensor, like: Tensor, views: dict[int, Tensor]) -> Tensor:
    """``(N,)`` mask shaped to broadcast over ``like`` ``(N, ...)`` (cached in ``views`` by rank)."""
    m = views.get(like.dim())
    if m is None:
        m = views[like.dim()] = mask.view(-1, *([1] * (like.dim() - 1)))
    return m


def info_to_numpy(info):
    """A (nested) info dict of tensors as numpy arrays (copies, no graph)."""
    if isinstance(info, dict):
        return {k: info_to_numpy(v) for k, v in info.items()}
    if isinstance(info, Tensor):
        return info.numpy(force=True).copy()  # (force: detached and on the host, in one call)
    return info
