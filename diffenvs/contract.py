"""The env contract: what a robot provides, what a task provides, and what every vector env promises.

diffenvs separates an environment into three parts:

* a **robot** (:class:`Robot`): the named, shape-documented state of one machine, a pure
  batched ``step(state, action)``, failure detection (divergence), its action space and
  whether its step is differentiable;
* a **task** (:class:`Task`): where episodes start, what the policy observes (a ``Box``
  or ``Dict`` space), the named reward terms (each marked differentiable or not),
  termination, the success metrics with one main metric, drawing markers and a label;
* the generic **vector env** shell (:class:`diffenvs.vector_env.DiffVectorEnv`) that runs
  any robot with any of its tasks behind the Gymnasium ``VectorEnv`` API, and the
  single-env shell (:class:`diffenvs.single_env.DiffEnv`). Neither knows any robot.

The **state** of a batch of ``N`` envs is a plain ``dict[str, Tensor]`` whose fields are
declared by the robot (:attr:`Robot.state_fields`), the task (:attr:`Task.state_fields`)
and the shell (``step``: the episode step counter). Every field is ``(N, *shape)``; float
fields use the env's dtype, integer fields ``int64`` and boolean fields ``bool``. States
are data: they can be stored (``detach``), compared, saved in ``weights_only``
checkpoints and put back with ``set_state``.

What every vector env promises (SPEC §2) is checked by :func:`check_vector_env`, which the
trainers, the SB3 adapter and the residual wrapper call when they are built: any env
that meets it is accepted, whatever its class.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

#: A batched env state: field name -> ``(N, *shape)`` tensor.
State = dict[str, Tensor]


# --------------------------------------------------------------------------- state
@dataclass(frozen=True)
class StateField:
    """One named field of the env state.

    Attributes:
        shape: per-env shape (``()`` for a scalar per env).
        dtype: ``"float"`` (the env's dtype), ``"int"`` (``int64``) or ``"bool"``.
        doc: meaning, unit and frame, e.g. ``"velocity, m/s, world frame"``.
    """

    shape: tuple[int, ...] = ()
    dtype: str = "float"
    doc: str = ""

    def __post_init__(self):
        if self.dtype not in ("float", "int", "bool"):
            raise ValueError(f"StateField dtype must be 'float', 'int' or 'bool', got {self.dtype!r}")

    def torch_dtype(self, float_dtype: torch.dtype) -> torch.dtype:
        return {"float": float_dtype, "int": torch.int64, "bool": torch.bool}[self.dtype]


#: The field the shell adds to every state: the episode step counter.
STEP_FIELD = StateField((), "int", "steps taken in the current episode")


def state_where(mask: Tensor, a: State, b: State, views: dict[int, Tensor] | None = None) -> State:
    """Row-wise select: ``a`` where ``mask`` (``(N,)`` bool) else ``b``, field by field.

    ``views`` may hold the mask already shaped per field rank (``{rank: view}``); it is filled
    as needed."""
    views = {1: mask} if views is None else views  # the mask shaped for each field rank, built once
    out = {}
    for k, v in a.items():
        m = views.get(v.dim())
        if m is None:
            m = views[v.dim()] = mask.view(-1, *([1] * (v.dim() - 1)))
        out[k] = torch.where(m, v, b[k])
    return out


def state_clone(state: State) -> State:
    """A detached copy of every field (to store a state, or edit it and put it back)."""
    return {k: v.detach().clone() for k, v in state.items()}


def state_rows(state: State, index) -> State:
    """The rows ``index`` (an int keeps the batch dimension out, as tensor indexing does)."""
    return {k: v[index] for k, v in state.items()}




def state_equal(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> bool:
    """Same fields with equal values (NaN-free states; exact comparison)."""
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------- options
def make_options(cls: type, options: Mapping[str, Any] | None, kind: str, name: str):
    """Build the frozen options dataclass ``cls`` of robot or task ``name`` from a dict;
    unknown names raise ``ValueError`` listing the valid ones."""
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise TypeError(f"{kind} options of {kind} {name!r} must be a dict, got {type(options).__name__}")
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise ValueError(f"unknown {kind} option(s) {unknown} for {kind} {name!r}; valid options: {sorted(valid)}")
    hints = typing.get_type_hints(cls)
    for key, value in options.items():
        problem = type_problem(value, hints[key])
        if problem:
            raise TypeError(f"{kind} {name!r} option {key!r} must be {describe_type(hints[key])}, got {value!r} "
                            f"({problem})")
    return cls(**options)


_NUMBER = (int, float, np.integer, np.floating)


def type_problem(value, hint) -> str:
    """Why ``value`` does not match the type hint ``hint`` ('' if it does). Handles the option
    types used by configs: numbers, bools, strings, ``X | None``, fixed and variable tuples."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        problems = [type_problem(value, a) for a in args]
        return "" if any(not p for p in problems) else problems[-1]
    if hint is type(None):
        return "" if value is None else "not None"
    if hint is bool:
        return "" if isinstance(value, bool | np.bool_) else "not a bool"
    if hint in (int, float):
        if isinstance(value, bool | np.bool_) or not isinstance(value, _NUMBER):
            return "not a number"
        if hint is int and not isinstance(value, int | np.integer):
            return "not an int"
        return "" if math.isfinite(float(value)) else "not finite"
    if hint is str:
        return "" if isinstance(value, str) else "not a string"
    if origin is tuple:
        if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray):
            return "not a sequence"
        items = list(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return next((p for p in (type_problem(v, args[0]) for v in items) if p), "")
        if len(items) != len(args):
            return f"length {len(items)}, expected {len(args)}"
        return next((p for p in (type_problem(v, a) for v, a in zip(items, args)) if p), "")
    return ""  # other types (e.g. a parameter dataclass) are checked by the robot or task itself


def describe_type(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a sequence of ({describe_type(args[0])})"
        return f"a sequence of {len(args)} " + ("numbers" if all(a in (int, float) for a in args) else "values")
    return {type(None): "None", bool: "a bool", int: "an int", float: "a number", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint)))


@dataclass(frozen=True)
class NoOptions:
    """A robot or task without options."""


#: Prefix of the info keys that carry the reward terms: ``info["reward/position"]``. The
#: keys are flat (no nested dict) so that clients such as TorchRL read them as they are.
REWARD_PREFIX = "reward/"


def reward_terms(info: Mapping[str, Any]) -> dict[str, Any]:
    """The reward terms of a step's ``info``: ``{name: value}`` (tensors from
    ``step_differentiable``, arrays from ``step``, floats from a single env)."""
    n = len(REWARD_PREFIX)
    return {k[n:]: v for k, v in info.items() if k.startswith(REWARD_PREFIX)}


# ------------------------------------------------------------------------- robot
class Robot(ABC):
    """A batched, pure-function robot model.

    Subclasses set the class attributes and implement :meth:`step`. A robot knows nothing
    about tasks, observations or rewards.

    Class attributes:
        name: registry name (the folder under ``diffenvs/robots``).
        Config: frozen dataclass of the robot's options (``robot_options`` / extra keyword
            arguments of the env).
        state_fields: the robot's state fields (name -> :class:`StateField`).
        action_dim: size of the action; actions live in ``Box(-1, 1, (action_dim,))``.
        action_doc: what each action component commands.
        differentiable: whether :meth:`step` is differentiable in state and action.
        default_dt: control step, s, when the env is built without ``dt``.
        drawer: ``"module:Class"`` of the robot's drawer for ``render_mode="rgb_array"``.
        controller: ``"module:function"`` building the robot's classical controller
            (``controller(env) -> policy``; the ``"classical"`` residual anchor), or ``None``.
    """

    name: ClassVar[str]
    Config: ClassVar[type] = NoOptions
    state_fields: ClassVar[dict[str, StateField]]
    action_dim: ClassVar[int]
    action_doc: ClassVar[str] = ""
    differentiable: ClassVar[bool] = True
    default_dt: ClassVar[float]
    drawer: ClassVar[str | None] = None
    controller: ClassVar[str | None] = None

    def __init__(self, options: Mapping[str, Any] | None, *, dt: float, dtype: torch.dtype, device: torch.device):
        self.cfg = make_options(self.Config, options, "robot", self.name)
        self.dt = dt
        self.dtype = dtype
        self.device = device

    def tensor(self, value) -> Tensor:
        return torch.as_tensor(value, dtype=self.dtype, device=self.device)

    @abstractmethod
    def step(self, state: State, action: Tensor) -> State:
        """Advance the robot fields of ``state`` by one control step under ``action``
        (``(N, action_dim)``, already clipped to [-1, 1]); returns the new robot fields.
        Pure: no side effects, no in-place writes into the inputs."""

    def diverged(self, state: State) -> Tensor:
        """``(N,)`` bool: rows whose state is numerically blown up (non-finite by default)."""
        values = [state[name].detach() for name, field in self.state_fields.items() if field.dtype == "float"]
        n = values[0].shape[0]
        return ~torch.isfinite(torch.cat([v.reshape(n, -1) for v in values], 1)).all(-1)

    def validate_state(self, state: State) -> None:
        """Raise ``ValueError`` naming the field if a given state is not a valid robot state
        (the shell already checked the fields' names, shapes and finiteness)."""
        return None

    def position(self, state: State) -> Tensor:
        """``(N, 3)`` world position used by the renderer (trails, camera framing)."""
        raise NotImplementedError(f"robot {self.name!r} does not define position() for rendering")

    def describe(self) -> str:
        return self.name


# -------------------------------------------------------------------------- task
@dataclass(frozen=True)
class RewardTerm:
    """One named reward term.

    Attributes:
        name: the term's value is ``info["reward/<name>"]`` after every step.
        differentiable: whether gradients flow through it (success bonuses, gate passes
            and indicators are not).
        description: the formula, for docs and ``env.reward_terms``.
    """

    name: str
    differentiable: bool
    description: str


class TaskStep(NamedTuple):
    """What a task reports after the robot advanced one step."""

    terms: dict[str, Tensor]  # name -> (N,) reward term values
    task_state: State  # the task's state fields after the step
    terminated: Tensor  # (N,) bool, task-specific termination (e.g. landed)
    metrics: dict[str, Tensor]  # name -> (N,) success metrics (no graph)


@dataclass(frozen=True)
class Marker:
    """Something a task asks the renderer to draw, in world coordinates (m, ``z`` up).

    Attributes:
        kind: ``"point"`` (a target), ``"path"`` (a polyline, e.g. a reference curve),
            ``"pad"`` (a square on the ground, ``size`` = half side) or ``"gates"`` (rings
            of radius ``size`` at ``points``, flown in order; the task's
            :meth:`Task.marker_state` gives each env's next gate as ``"next_gate"``).
        points: ``(K, 3)`` world points.
        size: radius or half side, m.
        label: legend text.
    """

    kind: str
    points: np.ndarray
    size: float = 0.0
    label: str = ""


class Task(ABC):
    """A task for one robot: pure functions over the batched state, no dynamics code.

    Class attributes:
        name: registry name of the task (unique within its robot).
        label: a human label, e.g. ``"Hovering"`` (figures, docs).
        robot: the robot name the task is written for.
        Config: frozen dataclass of the task options (``task_options``).
        default_episode_steps: episode length used when the env gets
            ``max_episode_steps=None``.
        state_fields: the task's own state fields (e.g. the next gate's index).
        reward_terms: the named reward terms (their sum is the reward).
        metric_names: the success metrics reported in ``info`` after every step.
        metric_units: the unit of every metric, e.g. ``"m"``, ``"m/s"``, ``"rad"``, ``"s"``,
            ``"gates"``; ``"%"`` for a 0/1 flag, whose mean over episodes is a rate
            (progress bars, summaries and tables show it in percent).
        main_metric: ``(metric, lower_is_better)``: the one number an evaluation reports.
        view: camera direction of rendered pictures, ``{"azimuth": deg, "elevation": deg}``
            (empty: the renderer's default oblique view; e.g. ``elevation`` 89 is top-down).
        costly_observation: ``observe`` is expensive (e.g. it renders an image): the env
            then observes only the episode starts it actually uses at autoreset, instead
            of pre-computing the observations of every pre-sampled start.

    A task whose state fields depend on its options sets ``self.state_fields`` in
    ``__init__`` (the shell reads the instance's).
    """

    name: ClassVar[str]
    label: ClassVar[str] = ""
    robot: ClassVar[str]
    Config: ClassVar[type] = NoOptions
    default_episode_steps: ClassVar[int]
    state_fields: ClassVar[dict[str, StateField]] = {}
    reward_terms: ClassVar[tuple[RewardTerm, ...]]
    metric_names: ClassVar[tuple[str, ...]] = ()
    metric_units: ClassVar[dict[str, str]] = {}
    main_metric: ClassVar[tuple[str, bool]] = ("episode_return", False)
    view: ClassVar[dict[str, float]] = {}
    costly_observation: ClassVar[bool] = False

    def __init__(self, options: Mapping[str, Any] | None, *, robot: Robot, dt: float, dtype: torch.dtype,
                 device: torch.device):
        self.cfg = self.make_config(options)
        self.robot_model = robot
        self.dt = dt
        self.dtype = dtype
        self.device = device

    @classmethod
    def make_config(cls, options: Mapping[str, Any] | None):
        """Validate ``options`` against ``Config`` and build it."""
        return make_options(cls.Config, options, "task", cls.name)

    def tensor(self, value) -> Tensor:
        return torch.as_tensor(value, dtype=self.dtype, device=self.device)

    @property
    def reward_term_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.reward_terms)

    # ----------------------------------------------------------------- interface
    @property
    @abstractmethod
    def observation_space(self) -> gym.Space:
        """The single-env observation space: a float32 ``Box`` or a ``Dict`` of them."""

    @abstractmethod
    def sample_initial(self, n: int, gen: torch.Generator) -> State:
        """``n`` fresh episode starts: the robot's and the task's state fields."""

    @abstractmethod
    def observe(self, state: State) -> Tensor | dict[str, Tensor]:
        """The observation of ``state`` (robot, task and ``step`` fields), differentiable in it."""

    @abstractmethod
    def evaluate(self, state: State, failed: Tensor) -> TaskStep:
        """Reward terms, next task fields, task termination and metrics after a robot step.

        ``state`` holds the robot fields after the step, the task fields before it and the
        new ``step`` count; ``failed`` marks rows that diverged or left the arena.
        """

    def failure(self, state: State) -> tuple[Tensor, Tensor]:
        """``(diverged, out_of_bounds)``, each ``(N,)`` bool, after a robot step.

        Both end the row's episode and are counted; a diverged row also gets reward 0 and
        passes no gradient. By default: the robot's own divergence check, never out of bounds.
        """
        diverged = self.robot_model.diverged(state)
        return diverged, torch.zeros_like(diverged)

    def native_transition(self, env) -> Callable | None:
        """A fused implementation of ``env.transition`` for this task, or ``None`` (the default).

        A task may offer the whole step (robot step, reward, failure, observation, autoreset) as
        one native call with its own backward. The env asks once, when it is built (not with
        ``compile=True``), and then steps and unrolls with it; ``env.transition`` itself stays
        the reference. It must return what ``env.transition`` returns, to float rounding, values
        and gradients alike (the shared tests compare the two on every env that has one; only the
        pre-reset state, which the env keeps to draw frames, may come without a graph), and
        decline with ``None`` for any configuration it does not cover. Optional extras the env
        uses when present: ``rollout(state, obs, actions, episode_return, fresh, fresh_obs,
        counters)``, several steps under ``(steps, N, A)`` actions in one call (what
        :meth:`~diffenvs.vector_env.DiffVectorEnv.rollout` returns per chunk, see ``_rollout_steps``)
        with ``rollout_steps``, the most steps the env passes to one such call, and
        ``observes_starts = True``: it observes the episode starts itself when ``fresh_obs`` is
        ``None``, so the env does not observe its pool of starts in advance; and ``numpy_step(actions)``,
        the Gymnasium :meth:`~diffenvs.vector_env.DiffVectorEnv.step` itself (numpy in and out, the
        env's bookkeeping included; ``None`` where it declines), which may keep the env's current
        tensors in buffers it reuses if it takes them back through ``release()`` when the env's
        current tensors are read (see ``diffenvs.vector_env._current``; the shared tests hold it to
        the generic ``step()`` bit for bit).
        """
        return None

    def limits(self) -> str:
        """What :meth:`failure` checks, in words with the values (error messages name it:
        ``set_state`` rejects states that already fail it)."""
        return "every state value finite"

    def markers(self) -> tuple[Marker, ...]:
        """Static things to draw (targets, reference paths, pads, gates)."""
        return ()

    def marker_state(self, state: State) -> dict[str, Tensor]:
        """Per-env drawing information (e.g. ``"next_gate"``, ``"reference"``)."""
        return {}

    def draw_env(self, canvas, state: Mapping[str, Any], colour) -> None:
        """Draw what belongs to one env's world and is not a static marker (e.g. its own
        obstacles), below the robots. ``state`` is that env's state row as numpy arrays
        (as a :class:`~diffenvs.render.RobotDrawer` gets it); ``canvas`` a
        :class:`~diffenvs.render.Canvas`. By default nothing."""
        return None

    def inset(self, state: State) -> Tensor | None:
        """A small per-env picture shown in the corner of each env's rendered frame (e.g.
        what its camera sees): ``(N, h, w)`` values in [0, 1] (0 black, 1 white), or ``None``."""
        return None


# ------------------------------------------------------------------ registration
@dataclass(frozen=True)
class EnvSpec:
    """One registered env id: a row of a robot's ``ENVS`` table.

    Attributes:
        id: Gymnasium id, ``Name-vN``.
        robot: robot name (folder under ``diffenvs/robots``).
        task: the :class:`Task` subclass (or the name of a task the robot already has).
        max_episode_steps: episode length (truncation).
        label: human label for figures and tables (default: the task's label).
        task_options: options baked into this id.
        robot_options: robot options baked into this id.
        presets: training settings per preset name and algorithm,
            ``{"paper": {"abpt": {"lr": 0.01, ...}, ...}, ...}``; the trainers take their
            presets from here.
    """

    id: str
    robot: str
    task: str | type[Task]
    max_episode_steps: int
    label: str = ""
    task_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    robot_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    presets: Mapping[str, Mapping[str, Mapping[str, Any]]] = dataclasses.field(default_factory=dict)

    @property
    def task_name(self) -> str:
        return self.task if isinstance(self.task, str) else self.task.name


# ------------------------------------------------------------- vector env checks
#: What every diffenvs-style vector env offers (SPEC §2), checked by :func:`check_vector_env`.
VECTOR_ENV_MEMBERS = ("num_envs", "device", "dtype", "single_observation_space", "single_action_space",
                      "max_episode_steps", "obs", "reset", "step", "step_differentiable", "rollout", "detach",
                      "get_state", "set_state", "reward_terms", "task", "get_runtime_state", "set_runtime_state")


def _has_member(obj, name: str) -> bool:
    """``hasattr`` that counts a property raising something else than ``AttributeError``
    (e.g. ``obs`` before the first ``reset()``) as present."""
    try:
        getattr(obj, name)
    except AttributeError:
        return False
    except Exception:  # noqa: BLE001 - the member exists; it just cannot be read yet
        return True
    return True


def check_vector_env(env, *, who: str = "this", need_autoreset: bool = False) -> None:
    """Raise ``TypeError`` naming what is missing if ``env`` does not meet the contract.

    The contract: the members of :data:`VECTOR_ENV_MEMBERS`, a ``Box(-1, 1)`` action space,
    an observation space that is a ``Box`` or a ``Dict`` of ``Box`` es and, with
    ``need_autoreset``, Gymnasium's ``SAME_STEP`` autoreset.
    """
    missing = [m for m in VECTOR_ENV_MEMBERS if not _has_member(env, m)]
    if missing:
        raise TypeError(
            f"{who} needs a differentiable vector env (diffenvs contract); {type(env).__name__} lacks {missing}. "
            f"Create one with gymnasium.make_vec('<id>', num_envs=N) or implement diffenvs.contract's members"
        )
    act = env.single_action_space
    if not (isinstance(act, gym.spaces.Box) and np.all(act.low == -1.0) and np.all(act.high == 1.0)):
        raise TypeError(f"{who} needs a Box(-1, 1) action space, got {act}")
    obs = env.single_observation_space
    parts = obs.spaces.values() if isinstance(obs, gym.spaces.Dict) else [obs]
    if not all(isinstance(p, gym.spaces.Box) for p in parts):
        raise TypeError(f"{who} needs a Box observation space or a Dict of Box spaces, got {obs}")
    if need_autoreset:
        from gymnasium.vector import AutoresetMode

        mode = (getattr(env, "metadata", {}) or {}).get("autoreset_mode")
        if mode != AutoresetMode.SAME_STEP or not getattr(env.unwrapped, "autoreset", True):
            raise ValueError(f"{who} needs an env that autoresets in the same step (Gymnasium SAME_STEP); "
                             f"build it with autoreset=True")
