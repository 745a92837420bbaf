"""What the quadrotor tasks share: arena and divergence limits, the hover-like reward
skeleton, the body-state observation features, and the controller set-point hook.

Every task reads the drone's named state fields (``pos``, ``quat``, ``vel``, ``omega``,
``thrust``; see :class:`~diffenvs.robots.quadrotor.Quadrotor`), the ``step`` counter and its
own fields, and never integrates dynamics.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from ....consts import const
from ....contract import RewardTerm, State, Task, TaskStep

#: Observation scaling shared by every quadrotor task (positions and velocities / 10,
#: body rates / 10), from the authors' simulator.
POS_SCALE = 0.1
VEL_SCALE = 0.1
RATE_SCALE = 0.1


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


def skeleton_terms(pos_error: Tensor, s: State, w: SkeletonWeights) -> dict[str, Tensor]:
    """The hover-like reward terms given the position error norm ``|p - p̂|`` (``(N,)``)."""
    quat_err = s["quat"] - const((1.0, 0.0, 0.0, 0.0), s["quat"])
    return {
        "alive": torch.full_like(pos_error, w.c),
        "position": const(-w.k_pos, pos_error) * pos_error,
        "orientation": const(-w.k_quat, pos_error) * norm(quat_err),
        "velocity": const(-w.k_vel, pos_error) * norm(s["vel"]),
        "rate": const(-w.k_rate, pos_error) * norm(s["omega"]),
    }




def state_features(s: State) -> tuple[Tensor, Tensor, Tensor]:
    """``(q, v/10, ω/10)``: the 10 body-state observation components shared by all tasks, as
    three parts for the task to concatenate after its own (one copy into the observation)."""
    return s["quat"], s["vel"] * const(VEL_SCALE, s["vel"]), s["omega"] * const(RATE_SCALE, s["omega"])


def uniform(gen: torch.Generator, n: int, low: Tensor, high: Tensor) -> Tensor:
    """``(n, d)`` samples uniform in the box ``[low, high]``."""
    u = torch.rand(n, low.shape[-1], generator=gen, dtype=low.dtype, device=low.device)
    return low + (high - low) * u


class QuadrotorTask(Task):
    """Base class of a quadrotor task.

    Subclasses set the class attributes (``obs_dim`` among them), define a frozen
    ``Config`` dataclass that subclasses :class:`TaskConfig`, and implement
    ``sample_initial``, ``observe``, ``evaluate`` and :meth:`setpoint`.
    """

    robot = "quadrotor"
    Config: ClassVar[type[TaskConfig]] = TaskConfig
    obs_dim: ClassVar[int]

    def __init__(self, options, **kw):
        super().__init__(options, **kw)
        self.params = self.robot_model.vehicle
        self.arena_low = self.tensor(self.cfg.arena_low)
        self.arena_high = self.tensor(self.cfg.arena_high)
        self._arena_center = 0.5 * (self.arena_low + self.arena_high)
        self._arena_half = 0.5 * (self.arena_high - self.arena_low)
        # Squared limits of |v|, |ω| and |p| (|p| only has to stay finite: the arena bounds it).
        self._limits_sq = self.tensor([self.cfg.max_speed**2, self.cfg.max_rate**2, torch.finfo(self.dtype).max])

    @property
    def observation_space(self) -> gym.Space:
        return gym.spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float32)

    def failure(self, s: State) -> tuple[Tensor, Tensor]:
        """Diverged: faster than ``max_speed``, spinning faster than ``max_rate``, or a
        non-finite position, velocity or body rate (written NaN-safe; a position whose
        square overflows counts as non-finite; a non-finite attitude or thrust reaches them
        within a step, and the shell makes a row with a non-finite reward diverged too);
        out of bounds: outside the arena box."""
        out_of_bounds = ((s["pos"].detach() - self._arena_center).abs() > self._arena_half).any(-1)
        squares = torch.stack([s["vel"], s["omega"], s["pos"]], 1).detach().square().sum(-1)  # (N, 3)
        diverged = ~(squares <= self._limits_sq).all(-1)
        return diverged, out_of_bounds & ~diverged

    def limits(self) -> str:
        return (f"speed <= max_speed = {self.cfg.max_speed:g} m/s, body rate <= max_rate = {self.cfg.max_rate:g} "
                f"rad/s, position inside the arena {tuple(self.cfg.arena_low)}..{tuple(self.cfg.arena_high)} m")

    def at_rest(self, pos: Tensor) -> State:
        """Drone fields at rest at ``pos`` (identity attitude, hover thrust)."""
        return self.robot_model.at_rest(pos)

    @abstractmethod
    def setpoint(self, obs: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Reference for the classical controller, read from the observation.

        Returns ``(pos_error, vel_ref, acc_ff, jerk_ff)``, each ``(N, 3)`` in the world
        frame: the position error ``p_ref - p`` (m), the reference velocity (m/s), and
        feed-forward acceleration (m/s^2) and jerk (m/s^3).
        """


__all__ = ["POS_SCALE", "RATE_SCALE", "VEL_SCALE", "QuadrotorTask", "RewardTerm", "SKELETON_TERMS",
           "SkeletonWeights", "TaskConfig", "TaskStep", "norm", "skeleton_terms", "state_features", "uniform"]
