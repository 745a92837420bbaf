"""Task interface: pure functions over the batched state, no dynamics code.

A task decides where episodes start, what the policy observes, the named reward
terms, when an episode succeeds or fails, and which success metrics are reported.
The physics lives in :mod:`diffenvs.core`; the Gymnasium shell in
:mod:`diffenvs.vector_env`.

Every task works on the flat quadrotor state ``x`` (``(N, 17)``, see
:mod:`diffenvs.core.dynamics`), the episode step counter ``step`` (``(N,)``, float)
and a task state ``task`` (``(N, K)``, float, columns named in ``task_state_names``).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor

from ..core.dynamics import OMEGA, POS, QUAT, VEL
from ..core.params import QuadrotorParams

#: Observation scaling shared by every quadrotor task (positions and velocities / 10,
#: body rates / 10), from the authors' simulator.
POS_SCALE = 0.1
VEL_SCALE = 0.1
RATE_SCALE = 0.1


@dataclass(frozen=True)
class RewardTerm:
    """One named reward term."""

    name: str
    differentiable: bool
    description: str


class TaskStep(NamedTuple):
    """What a task reports after the physics advanced one step."""

    terms: dict[str, Tensor]  # name -> (N,) reward term values
    task_state: Tensor  # (N, K) next task state
    terminated: Tensor  # (N,) bool, task-specific termination (e.g. landed)
    metrics: dict[str, Tensor]  # name -> (N,) success metrics


@dataclass(frozen=True)
class TaskConfig:
    """Options shared by every quadrotor task (all can be passed as ``task_options``).

    Attributes:
        arena_low: lower corner of the flight box, m (world). Leaving it (the ground
            included) terminates the episode and is counted as ``out_of_bounds``.
        arena_high: upper corner of the flight box, m (world).
        max_speed: speed above which a drone counts as diverged, m/s.
        max_rate: body-rate norm above which a drone counts as diverged, rad/s.
    """

    arena_low: tuple[float, float, float] = (-10.0, -10.0, 0.0)
    arena_high: tuple[float, float, float] = (10.0, 10.0, 10.0)
    max_speed: float = 30.0
    max_rate: float = 100.0


@dataclass(frozen=True)
class SkeletonWeights:
    """Weights of the hover-like reward ``c - k1|p-p̂| - k2|q-q̂| - k3|v| - k4|ω|``."""

    c: float = 0.1
    k_pos: float = 0.1 / 9.0
    k_quat: float = 1e-5
    k_vel: float = 0.002
    k_rate: float = 0.002


SKELETON_TERMS = (
    RewardTerm("alive", True, "constant c = 0.1 per step"),
    RewardTerm("position", True, "-k1 |p - p̂|, k1 = 0.1/9"),
    RewardTerm("orientation", True, "-k2 |q - q̂|, q̂ = identity, k2 = 1e-5"),
    RewardTerm("velocity", True, "-k3 |v|, k3 = 0.002"),
    RewardTerm("rate", True, "-k4 |ω|, k4 = 0.002"),
)


def norm(x: Tensor) -> Tensor:
    """Euclidean norm over the last dimension."""
    return torch.linalg.vector_norm(x, dim=-1)


def skeleton_terms(pos_error: Tensor, x: Tensor, w: SkeletonWeights) -> dict[str, Tensor]:
    """The hover-like reward terms given the position error norm ``|p - p̂|`` (``(N,)``)."""
    quat_err = x[:, QUAT] - _IDENTITY_QUAT.to(x)
    return {
        "alive": torch.full_like(pos_error, w.c),
        "position": -w.k_pos * pos_error,
        "orientation": -w.k_quat * norm(quat_err),
        "velocity": -w.k_vel * norm(x[:, VEL]),
        "rate": -w.k_rate * norm(x[:, OMEGA]),
    }


_IDENTITY_QUAT = torch.tensor([1.0, 0.0, 0.0, 0.0])
_FEATURE_SCALE = torch.tensor([1.0] * 4 + [VEL_SCALE] * 3 + [RATE_SCALE] * 3)


def state_features(x: Tensor) -> Tensor:
    """``(q, v/10, ω/10)``: the 10 body-state observation components shared by all tasks."""
    return x[:, QUAT.start:OMEGA.stop] * _FEATURE_SCALE.to(x)


def uniform(gen: torch.Generator, n: int, low: Tensor, high: Tensor) -> Tensor:
    """``(n, d)`` samples uniform in the box ``[low, high]``."""
    u = torch.rand(n, low.shape[-1], generator=gen, dtype=low.dtype, device=low.device)
    return low + (high - low) * u


class Task(ABC):
    """Base class of a quadrotor task.

    Subclasses set the class attributes, define a frozen ``Config`` dataclass that
    subclasses :class:`TaskConfig`, and implement the four methods.
    """

    name: ClassVar[str]
    Config: ClassVar[type[TaskConfig]] = TaskConfig
    default_episode_steps: ClassVar[int]
    obs_dim: ClassVar[int]
    task_state_names: ClassVar[tuple[str, ...]] = ()
    reward_terms: ClassVar[tuple[RewardTerm, ...]]
    metric_names: ClassVar[tuple[str, ...]]

    def __init__(self, options: dict[str, Any] | None, *, params: QuadrotorParams, dt: float,
                 dtype: torch.dtype, device: torch.device):
        self.cfg = self.make_config(options)
        self.params = params
        self.dt = dt
        self.dtype = dtype
        self.device = device
        self.arena_low = self.tensor(self.cfg.arena_low)
        self.arena_high = self.tensor(self.cfg.arena_high)

    @classmethod
    def make_config(cls, options: dict[str, Any] | None):
        """Validate ``options`` against ``Config`` and build it."""
        options = dict(options or {})
        valid = {f.name for f in dataclasses.fields(cls.Config)}
        unknown = sorted(set(options) - valid)
        if unknown:
            raise ValueError(
                f"unknown task option(s) {unknown} for task {cls.name!r}; valid options: {sorted(valid)}"
            )
        return cls.Config(**options)

    @property
    def task_state_dim(self) -> int:
        return len(self.task_state_names)

    @property
    def reward_term_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.reward_terms)

    def tensor(self, value) -> Tensor:
        return torch.as_tensor(value, dtype=self.dtype, device=self.device)

    def hover_state(self, pos: Tensor) -> Tensor:
        """Flat quadrotor states at rest at ``pos`` (identity attitude, hover thrust)."""
        n = pos.shape[0]
        quat = pos.new_zeros(n, 4)
        quat[:, 0] = 1.0
        rest = pos.new_zeros(n, 6)
        thrust = pos.new_full((n, 4), self.params.hover_thrust)
        return torch.cat([pos, quat, rest, thrust], dim=-1)

    # ----------------------------------------------------------------- interface
    @abstractmethod
    def sample_initial(self, n: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        """Fresh episode starts: flat quadrotor states ``(n, 17)`` and task states ``(n, K)``."""

    @abstractmethod
    def observe(self, x: Tensor, task: Tensor, step: Tensor) -> Tensor:
        """Observation ``(N, obs_dim)`` of state ``x`` (differentiable in ``x``)."""

    @abstractmethod
    def evaluate(self, x: Tensor, task: Tensor, step: Tensor, failed: Tensor) -> TaskStep:
        """Reward terms, next task state, task termination and metrics after a step.

        ``x`` and ``step`` are the state and step count after the physics step, ``task``
        the task state before it, ``failed`` the rows that left the arena or diverged.
        """

    @abstractmethod
    def setpoint(self, obs: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Reference for the classical controller, read from the observation.

        Returns ``(pos_error, vel_ref, acc_ff, jerk_ff)``, each ``(N, 3)`` in the world
        frame: the position error ``p_ref - p`` (m), the reference velocity (m/s), and
        feed-forward acceleration (m/s^2) and jerk (m/s^3).
        """

    # ------------------------------------------------------------------ helpers
    def position(self, x: Tensor) -> Tensor:
        return x[:, POS]
