"""Racing: fly through four gates in order, lap after lap (partially differentiable reward)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..core.dynamics import OMEGA, POS, VEL
from .base import (
    POS_SCALE,
    SKELETON_TERMS,
    RewardTerm,
    SkeletonWeights,
    Task,
    TaskConfig,
    TaskStep,
    norm,
    skeleton_terms,
    state_features,
)

GATES = ((4.0, 4.0, 1.0), (8.0, 0.0, 2.0), (5.0, -4.0, 1.0), (1.0, -1.0, 1.0))
# Spawn clusters: cluster i lies on the way from gate i-1 to gate i, so gate i is next.
SPAWNS = ((2.0, 2.0, 1.0), (6.0, 2.0, 1.5), (6.0, -2.0, 1.5), (2.0, 0.0, 1.0))


@dataclass(frozen=True)
class RacingConfig(TaskConfig, SkeletonWeights):
    """Racing options.

    Attributes:
        gates: gate centres flown in this order, forever, m (world).
        gate_radius: a gate counts as passed when the drone comes within this distance
            of its centre, m.
        spawn_points: start clusters; cluster ``i`` starts with gate ``i`` next.
        spawn_half_extent: half size of each start cluster, m.
        reward: ``"position"`` (hover-like skeleton toward the next gate, paper Table 1)
            or ``"velocity"`` (approach velocity toward the gate, paper Appendix D.2).
        gate_reward: bonus per gate passed (non-differentiable); ``None`` uses 20 for
            the position reward and 5 for the velocity reward.
        k_approach: velocity reward: weight of the approach speed toward the gate.
        k_away: velocity reward: weight of the speed across the gate direction,
            divided by ``distance + 1``.
        k_rate_vel: velocity reward: weight of the body-rate norm.
        max_approach_speed: velocity reward: the approach speed is capped here, m/s.
    """

    gates: tuple[tuple[float, float, float], ...] = GATES
    gate_radius: float = 0.3
    spawn_points: tuple[tuple[float, float, float], ...] = SPAWNS
    spawn_half_extent: tuple[float, float, float] = (0.2, 0.2, 0.2)
    reward: str = "position"
    gate_reward: float | None = None
    k_approach: float = 0.02
    k_away: float = 0.02
    k_rate_vel: float = 0.001
    max_approach_speed: float = 15.0


class RacingTask(Task):
    name = "racing"
    Config = RacingConfig
    default_episode_steps = 512
    obs_dim = 16
    task_state_names = ("next_gate", "gates_passed", "lap_start_step", "lap_gates", "last_lap_steps")
    metric_names = ("gates_passed", "lap_time", "gate_passed", "success")

    def __init__(self, options, **kw):
        super().__init__(options, **kw)
        c = self.cfg
        if c.reward not in ("position", "velocity"):
            raise ValueError(f"unknown racing reward {c.reward!r}; choose 'position' or 'velocity'")
        if len(c.spawn_points) != len(c.gates):
            raise ValueError("racing needs one spawn cluster per gate (spawn_points and gates differ in length)")
        self.gates = self.tensor(c.gates)
        self.num_gates = len(c.gates)
        self.spawns = self.tensor(c.spawn_points)
        self.half = self.tensor(c.spawn_half_extent)
        self.gate_reward = c.gate_reward if c.gate_reward is not None else (20.0 if c.reward == "position" else 5.0)
        bonus = RewardTerm("gate", False, f"+{self.gate_reward:g} per gate passed")
        if c.reward == "position":
            self.reward_terms = SKELETON_TERMS + (bonus,)
        else:
            self.reward_terms = (
                RewardTerm("approach", True, "k_approach * (velocity toward the next gate), capped"),
                RewardTerm("away", True, "-k_away * |velocity across the gate direction| / (distance + 1)"),
                RewardTerm("rate", True, "-k_rate_vel * |ω|"),
                bonus,
            )

    def sample_initial(self, n, gen):
        kw = dict(dtype=self.dtype, device=self.device)
        cluster = torch.randint(0, self.num_gates, (n,), generator=gen, device=self.device)
        u = torch.rand(n, 3, generator=gen, **kw)
        pos = self.spawns[cluster] + (2.0 * u - 1.0) * self.half
        g = cluster.to(self.dtype).unsqueeze(-1)
        zeros = torch.zeros(n, 1, **kw)
        task = torch.cat([g, zeros, zeros, zeros, zeros - 1.0], dim=-1)
        return self.hover_state(pos), task

    def _next_two(self, gate_idx: Tensor) -> tuple[Tensor, Tensor]:
        i = gate_idx.long()
        return self.gates[i], self.gates[(i + 1) % self.num_gates]

    def observe(self, x, task, step):
        g1, g2 = self._next_two(task[:, 0])
        p = x[:, POS]
        return torch.cat([(g1 - p) * POS_SCALE, (g2 - p) * POS_SCALE, state_features(x)], dim=-1)

    def evaluate(self, x, task, step, failed):
        c = self.cfg
        gate_idx, passed_count, lap_start, lap_gates, last_lap = task.unbind(-1)
        p = x[:, POS]
        gate = self.gates[gate_idx.long()]
        passed = (norm(p.detach() - gate) <= c.gate_radius) & ~failed
        pf = passed.to(x.dtype)
        new_idx = torch.remainder(gate_idx + pf, self.num_gates)
        passed_count = passed_count + pf
        # Lap timing: a lap is num_gates consecutive passes; it starts at the first pass.
        first = passed & (lap_gates == 0)
        lap_start = torch.where(first, step, lap_start)
        lap_gates = lap_gates + pf
        lap_done = lap_gates > self.num_gates
        last_lap = torch.where(lap_done, step - lap_start, last_lap)
        lap_start = torch.where(lap_done, step, lap_start)
        lap_gates = torch.where(lap_done, torch.ones_like(lap_gates), lap_gates)

        target = self.gates[new_idx.long()]
        if c.reward == "position":
            terms = skeleton_terms(norm(p - target), x, c)
        else:
            terms = self._velocity_terms(x, target)
        terms["gate"] = pf * self.gate_reward
        new_task = torch.stack([new_idx, passed_count, lap_start, lap_gates, last_lap], dim=-1)
        # Seconds of the latest completed lap; -1 until one is complete (not NaN: NaN would
        # make identical infos compare unequal).
        lap_time = torch.where(last_lap >= 0, last_lap * self.dt, torch.full_like(last_lap, -1.0))
        metrics = {"gates_passed": passed_count, "lap_time": lap_time, "gate_passed": passed,
                   "success": passed_count >= self.num_gates}  # a full lap in this episode
        return TaskStep(terms, new_task, torch.zeros_like(failed), metrics)

    def _velocity_terms(self, x: Tensor, target: Tensor) -> dict[str, Tensor]:
        c = self.cfg
        rel = target - x[:, POS]
        dist = norm(rel)
        direction = rel / (dist.unsqueeze(-1) + 1e-6)
        vel = x[:, VEL]
        approach = (vel * direction).sum(-1).clamp_max(c.max_approach_speed)
        across = vel - approach.unsqueeze(-1) * direction
        return {
            "approach": c.k_approach * approach,
            "away": -c.k_away * norm(across) / (dist + 1.0),
            "rate": -c.k_rate_vel * norm(x[:, OMEGA]),
        }

    def setpoint(self, obs: Tensor):
        g1 = obs[:, 0:3] / POS_SCALE  # next gate relative to the drone
        g2 = obs[:, 3:6] / POS_SCALE
        dist = norm(g1).unsqueeze(-1)
        # Aim at the gate centre at a speed that grows with distance, and carry some
        # speed through the gate toward the one after it.
        through = g2 - g1
        through = through / (norm(through).unsqueeze(-1) + 1e-6)
        direction = g1 / (dist + 1e-6)
        speed = (2.0 * dist).clamp(1.5, 5.0)
        vel_ref = speed * direction + 1.0 * through * (dist < 1.0)
        zeros = torch.zeros_like(g1)
        return g1, vel_ref, zeros, zeros


@dataclass(frozen=True)
class RacingVelocityConfig(RacingConfig):
    """Racing options with the velocity-based reward (paper Appendix D.2) as the default."""

    reward: str = "velocity"


class RacingVelocityTask(RacingTask):
    """Racing with the velocity-based reward by default (``DiffQuad-RacingVelocity-v0``)."""

    name = "racing_velocity"
    Config = RacingVelocityConfig
